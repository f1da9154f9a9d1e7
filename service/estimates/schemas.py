"""Wire schemas of `POST /v1/estimates`: the estimator's inputs, mirrored, and its answer.

The request mirrors the core's input dataclasses (`service.estimates.inputs`) field for field,
with the core's enums as the accepted spellings; the core still makes every cross-field check
(a ZeRO stage without GPUs, parameter offload below stage 3...) and its `EstimateError` becomes
a 422 naming the field. All figures in the answer are whole bytes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from service.estimates.choices import (
    FsdpStrategy,
    Method,
    NoteKind,
    OffloadDevice,
    Optimizer,
    Place,
    Precision,
    Profile,
    QuantType,
)
from service.wire import Input, Output

Name = str
MODULES = Field(max_length=20)


class ShapeIn(Input):
    """A decoder-only transformer's shape, as its config.json states it."""

    layers: int = Field(ge=1, le=10_000, description="Decoder blocks (num_hidden_layers).")
    hidden: int = Field(ge=1, le=10**6, description="Model width (hidden_size).")
    heads: int = Field(ge=1, le=10**5, description="Attention heads (num_attention_heads).")
    vocab: int = Field(ge=1, le=10**8, description="Vocabulary size (vocab_size).")
    kv_heads: int | None = Field(default=None, ge=1, description="Key/value heads; null: heads.")
    intermediate: int | None = Field(default=None, ge=1, description="MLP width; null: 4 x hidden.")
    head_dim: int | None = Field(default=None, ge=1, description="Head width; null: hidden/heads.")
    gated_mlp: bool = Field(default=True, description="gate/up/down_proj (SwiGLU) MLP.")
    tied_embeddings: bool = Field(default=False, description="Output layer shares the embedding.")
    qkv_bias: bool = Field(default=False, description="q/k/v projections have biases (Qwen2).")


class LoraIn(Input):
    rank: int = Field(default=8, ge=1, le=65_536, description="LoRA rank r (PEFT default 8).")
    targets: list[Name] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        min_length=1,
        max_length=20,
        description="Linear module names (q_proj ... down_proj), or ['all-linear'].",
    )


class QuantizationIn(Input):
    bits: Literal[4, 8] = 4
    type: QuantType | None = Field(default=None, description="4-bit only; null: nf4.")
    double_quant: bool | None = Field(default=None, description="4-bit only; null: true.")


class TechniqueIn(Input):
    method: Method = Method.FULL
    lora: LoraIn | None = Field(default=None, description="lora, dora and qlora only.")
    quantization: QuantizationIn | None = Field(default=None, description="qlora and dora.")


class NumericsIn(Input):
    precision: Precision = Precision.BF16_MIXED
    optimizer: Optimizer = Optimizer.ADAMW


class OffloadIn(Input):
    optimizer: OffloadDevice = OffloadDevice.NONE
    params: OffloadDevice = OffloadDevice.NONE


class ParallelismIn(Input):
    gpus: int | None = Field(default=None, ge=1, le=1_000_000, description="Total GPUs.")
    nodes: int = Field(default=1, ge=1, le=100_000)
    gpus_per_node: int | None = Field(default=None, ge=1, le=1024)
    zero_stage: int = Field(default=0, ge=0, le=3, description="DeepSpeed ZeRO stage.")
    offload: OffloadIn = Field(default_factory=OffloadIn)
    fsdp: FsdpStrategy | None = Field(default=None, description="FSDP strategy; null: no FSDP.")
    tensor_parallel: int = Field(default=1, ge=1, le=1024)
    zero_init: bool = Field(default=True, description="DeepSpeed zero.Init (deepspeed profile).")


class ActivationsIn(Input):
    seq_len: int = Field(ge=1, le=10**8, description="Tokens per sequence.")
    micro_batch: int = Field(default=1, ge=1, le=100_000, description="Sequences per GPU.")
    gradient_checkpointing: bool = False
    flash_attention: bool = False
    selective_recompute: bool = False
    sequence_parallel: bool = False


class AccountingIn(Input):
    """The ftmatrix profile's allowances and DeepSpeed's buffer factor; null: the defaults
    (a 1343 MiB CUDA context, 10% fragmentation, factor 1.5), all marked uncertain."""

    cuda_context_bytes: int | None = Field(default=None, ge=0, le=2**40)
    fragmentation: float | None = Field(default=None, ge=0, lt=1)
    buffer_factor: float | None = Field(default=None, gt=0, le=100)


class EstimateRequest(Input):
    """What to estimate: a catalog model (`model`) or `params` and/or `shape`, and the job."""

    model: str | None = Field(
        default=None, max_length=200, description="Catalog model id or alias (its shape is used)."
    )
    params: int | None = Field(default=None, ge=1, le=10**15, description="Total parameters.")
    shape: ShapeIn | None = None
    technique: TechniqueIn = Field(default_factory=TechniqueIn)
    numerics: NumericsIn = Field(default_factory=NumericsIn)
    parallelism: ParallelismIn = Field(default_factory=ParallelismIn)
    activations: ActivationsIn | None = Field(
        default=None, description="The batch whose activations count; null: model states only."
    )
    accounting: AccountingIn = Field(default_factory=AccountingIn)
    profile: Profile = Field(default=Profile.FTMATRIX, description="Whose accounting to follow.")
    hardware: list[Name] = Field(
        default_factory=list, max_length=20, description="Hardware ids to judge the fit on."
    )
    format: Literal["json", "svg"] = Field(
        default="json", description="svg: the picture (image/svg+xml) instead of the JSON."
    )

    @model_validator(mode="after")
    def _one_model(self) -> EstimateRequest:
        if self.model is None and self.params is None and self.shape is None:
            raise ValueError("give model (a catalog id), or params and/or shape")
        if self.model is not None and (self.params is not None or self.shape is not None):
            raise ValueError("give model, or params and shape, not both")
        return self


class PerGpu(Output):
    weights: int
    gradients: int
    optimizer_states: int
    activations: int
    quantization: int = Field(description="Quantization constants (absmax, scales).")
    other: int = Field(description="Buffers, gathered layers, the CUDA/fragmentation allowance.")
    model_states: int = Field(description="weights + gradients + optimizer states.")
    total: int


class PerNode(Output):
    per_node: int = Field(description="Bytes on each node.")
    total: int = Field(description="Bytes over all nodes.")


class ParamsOut(Output):
    total: int = Field(description="Total parameters, adapters included.")
    trainable: int
    trainable_share: float


class UnitOut(Output):
    symbol: str = Field(description="The unit's real symbol (GB or GiB).")
    bytes: int
    label: str = Field(description="What the profile's source calls it (DeepSpeed: GB for GiB).")


class FitOut(Output):
    hardware: str
    memory_bytes: int | None = Field(description="The GPU's memory; null: not in the data.")
    fits: bool | None = Field(description="null: the GPU's memory is not known.")
    headroom_bytes: int | None = Field(description="Memory left per GPU (negative: short by).")


class TermOut(Output):
    place: Place
    component: str
    bytes: int
    label: str
    formula: str
    source: str


class AssumptionOut(Output):
    kind: NoteKind
    topic: str
    text: str
    source: str


class EstimateAnswer(Output):
    """Memory per GPU and per node's CPU and NVMe, by component, in bytes, with the terms,
    assumptions and sources behind them and the fit on each hardware asked about."""

    revision: int
    profile: Profile
    unit: UnitOut
    model: str | None = Field(description="The catalog model estimated, if one was named.")
    gpus: int
    nodes: int
    per_gpu: PerGpu
    cpu: PerNode
    nvme: PerNode
    params: ParamsOut
    fits: list[FitOut]
    terms: list[TermOut]
    assumptions: list[AssumptionOut]
    sources: list[str]
