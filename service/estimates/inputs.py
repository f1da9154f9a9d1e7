"""What a memory estimate is asked about: plain, frozen dataclasses with documented defaults.

Each class checks its own fields when built and raises `EstimateError` naming the field, so a
bad input never reaches the formulas. Enum-typed fields also accept their spellings
(``"bf16-mixed"``), which are converted to the enum member. Checks that need two inputs at
once (LoRA targets against the model shape, heads against tensor parallelism) are made by
`EstimateInput`; checks that depend on the accounting profile are made by the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.estimates.choices import (
    FsdpStrategy,
    Method,
    OffloadDevice,
    Optimizer,
    Precision,
    Profile,
    QuantType,
    choice,
)
from service.estimates.errors import EstimateError
from service.estimates.shapes import ALL_LINEAR, LINEAR_MODULES
from service.estimates.validation import check_input, check_parallelism, whole

CUDA_CONTEXT_BYTES = 1343 * 2**20
"""Default CUDA context allowance: the 1343 MB (nvidia-smi MiB) that loading the CUDA kernels
took on a V100 in transformers' docs (docs/source/en/model_memory_anatomy.md: "can take up
1-2GB of memory"). Uncertain: it varies with GPU, driver, CUDA version and libraries."""
FRAGMENTATION = 0.10
"""Default fragmentation allowance, as a share of the other per-GPU bytes. Uncertain: a rule of
thumb ("~10-20% overhead", finetune-facts.yaml derived_rules_of_thumb, confidence medium); the
ZeRO paper (§3.2) saw OOM "with over 30% of memory still available in some extreme cases"."""


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The architecture of a decoder-only transformer, as its config states it.

    Linear modules are named the Llama way (q/k/v/o_proj, gate/up/down_proj); a model without
    a gated MLP (GPT-style) has up_proj and down_proj only. Norms are counted as one weight
    vector of `hidden` each (RMSNorm), two per block plus a final one.
    """

    layers: int
    """Decoder blocks (L)."""
    hidden: int
    """Model width (h, d_model)."""
    heads: int
    """Attention (query) heads (a)."""
    vocab: int
    """Vocabulary size (v)."""
    kv_heads: int | None = None
    """Key/value heads (grouped-query attention); None: as many as `heads`."""
    intermediate: int | None = None
    """MLP width; None: 4 x hidden (the GPT MLP)."""
    head_dim: int | None = None
    """Width of one head; None: hidden / heads."""
    gated_mlp: bool = True
    """SwiGLU-style MLP with gate_proj, up_proj and down_proj; False: up_proj and down_proj."""
    tied_embeddings: bool = False
    """Whether the output layer shares the input embedding's weights."""
    qkv_bias: bool = False
    """Whether q/k/v projections have biases (Qwen2)."""

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "vocab"):
            whole(f"model.shape.{name}", getattr(self, name), 1)
        for name in ("kv_heads", "intermediate", "head_dim"):
            if getattr(self, name) is not None:
                whole(f"model.shape.{name}", getattr(self, name), 1)
        if self.heads % self.kv:
            raise EstimateError(
                "model.shape.kv_heads",
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv}): in "
                "grouped-query attention each key/value head serves heads/kv_heads query heads",
            )
        if self.head_dim is None and self.hidden % self.heads:
            raise EstimateError(
                "model.shape.head_dim",
                f"hidden ({self.hidden}) is not a multiple of heads ({self.heads}); give "
                "head_dim explicitly",
            )

    @property
    def kv(self) -> int:
        """Key/value heads, resolved."""
        return self.kv_heads or self.heads

    @property
    def ff(self) -> int:
        """MLP width, resolved."""
        return self.intermediate or 4 * self.hidden

    @property
    def dim_head(self) -> int:
        """Width of one head, resolved."""
        return self.head_dim or self.hidden // self.heads


@dataclass(frozen=True, slots=True)
class Model:
    """The model: its parameter count, its shape, or both.

    `params` is the total that counts (e.g. a published "175B"); the shape, when given, sizes
    the modules (LoRA targets, quantized linears, activations, the largest layer) and supplies
    the total when `params` is absent.
    """

    params: int | None = None
    """Total parameters of the pretrained model."""
    shape: ModelShape | None = None
    """The architecture; needed for LoRA/DoRA/QLoRA and for activations."""
    largest_layer_params: int | None = None
    """Parameters of the largest single module (DeepSpeed's `largest_layer_params`); None:
    derived from the shape (the larger of the embedding and the largest linear)."""
    buffer_bytes: int = 0
    """Bytes of registered non-parameter buffers (e.g. position ids) as the model holds them."""
    name: str = ""
    """A label for the model, shown in notes and pictures."""

    def __post_init__(self) -> None:
        if self.params is None and self.shape is None:
            raise EstimateError("model", "give params, shape, or both")
        if self.params is not None:
            whole("model.params", self.params, 1)
        if self.largest_layer_params is not None:
            whole("model.largest_layer_params", self.largest_layer_params, 1)
        whole("model.buffer_bytes", self.buffer_bytes, 0)


@dataclass(frozen=True, slots=True)
class LoraSpec:
    """LoRA adapters: rank and target modules (PEFT `LoraConfig(r, target_modules)`)."""

    rank: int = 8
    """The rank r (PEFT's default is 8)."""
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    """Module names from LINEAR_MODULES, or ("all-linear",). Default: PEFT's default targets
    for Llama-family models (src/peft/utils/constants.py)."""

    def __post_init__(self) -> None:
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        object.__setattr__(self, "targets", targets)
        whole("technique.lora.rank", self.rank, 1)
        allowed = (*LINEAR_MODULES, ALL_LINEAR)
        if not self.targets:
            raise EstimateError("technique.lora.targets", "name at least one module", allowed)
        for target in self.targets:
            if target not in allowed:
                raise EstimateError(
                    "technique.lora.targets", f"{target!r} is not a known linear module", allowed
                )
        if ALL_LINEAR in self.targets and len(self.targets) > 1:
            raise EstimateError(
                "technique.lora.targets", "'all-linear' already names every module; use it alone"
            )
        if len(set(self.targets)) != len(self.targets):
            raise EstimateError("technique.lora.targets", "a module is named twice")


@dataclass(frozen=True, slots=True)
class Quantization:
    """A bitsandbytes-quantized frozen base (transformers' `BitsAndBytesConfig`)."""

    bits: int = 4
    """4 (NF4/FP4 blockwise, QLoRA) or 8 (LLM.int8 row-wise)."""
    type: QuantType | None = None
    """4-bit data type; None: nf4 (QLoRA's choice). Not allowed with 8 bits."""
    double_quant: bool | None = None
    """Quantize the 4-bit constants again (QLoRA's Double Quantization); None: True. Not
    allowed with 8 bits."""

    def __post_init__(self) -> None:
        if self.bits not in (4, 8):
            raise EstimateError("technique.quantization.bits", "must be 4 or 8", ("4", "8"))
        if self.type is not None:
            object.__setattr__(
                self, "type", choice(QuantType, self.type, "technique.quantization.type")
            )
        if self.bits == 8 and (self.type is not None or self.double_quant is not None):
            raise EstimateError(
                "technique.quantization",
                "type and double_quant apply to 4-bit quantization only; 8-bit LLM.int8 "
                "weights carry one fp32 scale per row",
            )

    @property
    def quant_type(self) -> QuantType:
        """The 4-bit data type, resolved."""
        return self.type or QuantType.NF4

    @property
    def nested(self) -> bool:
        """Whether double quantization is on, resolved (always False for 8 bits)."""
        return self.bits == 4 and self.double_quant is not False


@dataclass(frozen=True, slots=True)
class Technique:
    """The fine-tuning method with its adapter and quantization settings."""

    method: Method = Method.FULL
    lora: LoraSpec | None = None
    """Adapter settings for lora, dora and qlora; None: LoraSpec() defaults."""
    quantization: Quantization | None = None
    """The quantized base: required by nothing (qlora defaults to 4-bit NF4 with double
    quantization), allowed for qlora and dora (QDoRA) only."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", choice(Method, self.method, "technique.method"))
        if self.method is Method.FULL and self.lora is not None:
            raise EstimateError(
                "technique.lora",
                "full fine-tuning has no adapters; lora settings apply to lora, dora and qlora",
                ("lora", "dora", "qlora"),
            )
        if self.quantization is not None and self.method in (Method.FULL, Method.LORA):
            raise EstimateError(
                "technique.quantization",
                "a quantized base is frozen, so it needs adapters: use method qlora (LoRA on "
                "the quantized base) or dora (QDoRA)",
                ("qlora", "dora"),
            )

    @property
    def adapter(self) -> LoraSpec | None:
        """The LoRA settings in force, or None for full fine-tuning."""
        if self.method is Method.FULL:
            return None
        return self.lora or LoraSpec()

    @property
    def quantized(self) -> Quantization | None:
        """The quantization in force: qlora's default when none was given."""
        if self.method is Method.QLORA:
            return self.quantization or Quantization()
        return self.quantization


@dataclass(frozen=True, slots=True)
class Numerics:
    """Number formats and optimizer."""

    precision: Precision = Precision.BF16_MIXED
    optimizer: Optimizer = Optimizer.ADAMW

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "precision", choice(Precision, self.precision, "numerics.precision")
        )
        object.__setattr__(
            self, "optimizer", choice(Optimizer, self.optimizer, "numerics.optimizer")
        )


@dataclass(frozen=True, slots=True)
class Offload:
    """DeepSpeed offload devices (`offload_optimizer.device`, `offload_param.device`); with
    FSDP, `params = cpu` is torch's `CPUOffload(offload_params=True)`."""

    optimizer: OffloadDevice = OffloadDevice.NONE
    params: OffloadDevice = OffloadDevice.NONE

    def __post_init__(self) -> None:
        for name in ("optimizer", "params"):
            value = choice(OffloadDevice, getattr(self, name), f"parallelism.offload.{name}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True, slots=True)
class Parallelism:
    """How many GPUs, and how model states are sharded or offloaded across them.

    Give `gpus`, or `nodes` x `gpus_per_node`, or both when they agree; with neither, each
    node has 1 GPU.
    """

    gpus: int | None = None
    """Total GPUs."""
    nodes: int = 1
    gpus_per_node: int | None = None
    """GPUs per node; None: gpus / nodes (1 when gpus is None too)."""
    zero_stage: int = 0
    """DeepSpeed ZeRO stage, 0 (off) to 3."""
    offload: Offload = field(default_factory=Offload)
    fsdp: FsdpStrategy | None = None
    """PyTorch FSDP sharding strategy; None: FSDP off. Exclusive with ZeRO."""
    tensor_parallel: int = 1
    """Tensor-parallel degree t (Megatron-style); the data-parallel degree is gpus / t."""
    zero_init: bool = True
    """DeepSpeed `zero.Init` (Accelerate's zero3_init_flag); changes only the deepspeed
    profile's CPU figures, as DeepSpeed's estimator does."""

    def __post_init__(self) -> None:
        if self.fsdp is not None:
            object.__setattr__(self, "fsdp", choice(FsdpStrategy, self.fsdp, "parallelism.fsdp"))
        check_parallelism(self)

    @property
    def total_gpus(self) -> int:
        """All GPUs of the job."""
        if self.gpus is not None:
            return self.gpus
        return self.nodes * (self.gpus_per_node or 1)

    @property
    def node_gpus(self) -> int:
        """GPUs on one node."""
        return self.gpus_per_node or self.total_gpus // self.nodes

    @property
    def data_parallel(self) -> int:
        """Data-parallel degree N_d: total GPUs over the tensor-parallel degree."""
        return self.total_gpus // self.tensor_parallel


@dataclass(frozen=True, slots=True)
class Activations:
    """The batch whose activations are counted (ftmatrix profile; others exclude them)."""

    seq_len: int
    """Tokens per sequence (s)."""
    micro_batch: int = 1
    """Sequences per GPU per step (b)."""
    gradient_checkpointing: bool = False
    """Full recomputation: keep each block's input only, recompute the rest in backward."""
    flash_attention: bool = False
    """FlashAttention-style kernels that never store the s x s attention scores."""
    selective_recompute: bool = False
    """Korthikanti et al.'s selective recomputation of the attention-score part."""
    sequence_parallel: bool = False
    """Megatron sequence parallelism (shards the non-tensor-parallel activations by t)."""

    def __post_init__(self) -> None:
        whole("activations.seq_len", self.seq_len, 1)
        whole("activations.micro_batch", self.micro_batch, 1)


@dataclass(frozen=True, slots=True)
class Accounting:
    """How to count: the profile, and the allowances only the ftmatrix profile adds."""

    profile: Profile = Profile.FTMATRIX
    cuda_context_bytes: int = CUDA_CONTEXT_BYTES
    """Per-GPU allowance for the CUDA context and kernels (ftmatrix profile)."""
    fragmentation: float = FRAGMENTATION
    """Per-GPU allowance for allocator fragmentation, as a share of the other per-GPU bytes
    (ftmatrix profile), in [0, 1)."""
    buffer_factor: float = 1.5
    """DeepSpeed's `additional_buffer_factor` on its CPU figures (deepspeed profile)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", choice(Profile, self.profile, "accounting.profile"))
        whole("accounting.cuda_context_bytes", self.cuda_context_bytes, 0)
        if not _number(self.fragmentation) or not 0 <= self.fragmentation < 1:
            raise EstimateError(
                "accounting.fragmentation", "must be a share of memory, at least 0 and below 1"
            )
        if not _number(self.buffer_factor) or not self.buffer_factor > 0:
            raise EstimateError("accounting.buffer_factor", "must be above 0 (DeepSpeed: 1.5)")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class EstimateInput:
    """Everything an estimate depends on. Only `model` is required."""

    model: Model
    technique: Technique = field(default_factory=Technique)
    numerics: Numerics = field(default_factory=Numerics)
    parallelism: Parallelism = field(default_factory=Parallelism)
    activations: Activations | None = None
    """None: count model states only (no batch is known)."""
    accounting: Accounting = field(default_factory=Accounting)

    def __post_init__(self) -> None:
        check_input(self)
