"""The named choices of an estimate: techniques, numerics, devices, profiles and components.

Every enum is a `StrEnum` whose values are the spellings the API accepts, so a schema that
mirrors the inputs can reuse them unchanged.
"""

from __future__ import annotations

from enum import StrEnum, unique
from typing import TypeVar

from service.estimates.errors import EstimateError


@unique
class Method(StrEnum):
    """How the model is fine-tuned."""

    FULL = "full"
    """Every parameter is trained."""
    LORA = "lora"
    """Frozen 16-bit base, trained low-rank adapters B·A (Hu et al., arXiv 2106.09685)."""
    DORA = "dora"
    """LoRA plus one trained magnitude per output feature (Liu et al., arXiv 2402.09353);
    with a quantization it is QDoRA."""
    QLORA = "qlora"
    """LoRA on a frozen 4-bit (or 8-bit) bitsandbytes base (Dettmers et al., arXiv 2305.14314)."""


@unique
class Precision(StrEnum):
    """Number formats of weights, gradients and optimizer states."""

    FP32 = "fp32"
    """Everything in fp32."""
    FP16_MIXED = "fp16-mixed"
    """16-bit weights and gradients for compute, fp32 master weights in the optimizer."""
    BF16_MIXED = "bf16-mixed"
    """As fp16-mixed, with bf16 as the 16-bit format."""
    BF16 = "bf16"
    """Pure bf16: weights, gradients and optimizer states in bf16, no fp32 master copy."""

    @property
    def mixed(self) -> bool:
        """Whether an fp32 master copy of the trained weights is kept."""
        return self in (Precision.FP16_MIXED, Precision.BF16_MIXED)


@unique
class Optimizer(StrEnum):
    """The optimizer, which decides the optimizer-state bytes per trained parameter."""

    ADAMW = "adamw"
    ADAMW_8BIT = "adamw-8bit"
    PAGED_ADAMW_8BIT = "paged-adamw-8bit"
    SGD = "sgd"
    """SGD with momentum (one state per parameter)."""
    ADAFACTOR = "adafactor"


@unique
class QuantType(StrEnum):
    """The 4-bit data type of a bitsandbytes-quantized base (same bytes either way)."""

    NF4 = "nf4"
    FP4 = "fp4"


@unique
class OffloadDevice(StrEnum):
    """Where offloaded states live."""

    NONE = "none"
    CPU = "cpu"
    NVME = "nvme"


@unique
class FsdpStrategy(StrEnum):
    """PyTorch FSDP `ShardingStrategy` names."""

    FULL_SHARD = "FULL_SHARD"
    SHARD_GRAD_OP = "SHARD_GRAD_OP"
    NO_SHARD = "NO_SHARD"
    HYBRID_SHARD = "HYBRID_SHARD"
    HYBRID_SHARD_ZERO2 = "_HYBRID_SHARD_ZERO2"


@unique
class Profile(StrEnum):
    """Accounting profiles: which source's way of counting an estimate follows."""

    FTMATRIX = "ftmatrix"
    ZERO_PAPER = "zero-paper"
    DEEPSPEED = "deepspeed"
    ACCELERATE = "accelerate"


@unique
class Component(StrEnum):
    """What a counted byte is for."""

    WEIGHTS = "weights"
    GRADIENTS = "gradients"
    OPTIMIZER_STATES = "optimizer_states"
    ACTIVATIONS = "activations"
    QUANTIZATION_CONSTANTS = "quantization_constants"
    OTHER = "other"
    """Buffers, gathered working layers, transients and the CUDA/fragmentation allowance."""


MODEL_STATES = (Component.WEIGHTS, Component.GRADIENTS, Component.OPTIMIZER_STATES)
"""The components the ZeRO paper calls model states."""


@unique
class Place(StrEnum):
    """Where counted bytes live: each GPU, or the CPU RAM / NVMe of each node."""

    GPU = "gpu"
    CPU = "cpu"
    NVME = "nvme"


@unique
class NoteKind(StrEnum):
    """Kinds of note an estimate carries beside its figures."""

    ASSUMPTION = "assumption"
    """A modelling choice the figures depend on."""
    DISAGREEMENT = "disagreement"
    """Sources disagree; the note names the one followed."""
    CAVEAT = "caveat"
    """A measured behaviour the formulas do not predict."""


E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: object, field: str) -> E:
    """`value` as a member of `kind`, accepting the member itself or its spelling.

    Raises EstimateError naming `field` and listing the accepted spellings otherwise.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value == value:
                return member
    allowed = [member.value for member in kind]
    raise EstimateError(field, f"{value!r} is not one of the accepted values", allowed)
