"""The published estimators, transcribed: the ZeRO paper's stage formulas, DeepSpeed's
`estimate_zero2_*` / `estimate_zero3_*` and Accelerate's `estimate_training_usage`.

Each function returns bytes exactly as its source computes them (DeepSpeed's float products
truncated by `int()`, Accelerate's integer halving), so a figure can be compared with what the
source prints within that source's own rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True, slots=True)
class ZeroStates:
    """Model-state bytes per GPU in the ZeRO paper's accounting."""

    weights: int
    gradients: int
    optimizer: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer


def zero_paper(params: int, data_parallel: int, stage: int, k: int = 12) -> ZeroStates:
    """(2 + 2 + K)Ψ of mixed-precision training, sharded by stage over N_d GPUs:
    P_os 4Ψ + KΨ/N_d, P_os+g 2Ψ + (2+K)Ψ/N_d, P_os+g+p (2+2+K)Ψ/N_d (ZeRO §5, Table I)."""

    def share(nbytes: int, from_stage: int) -> int:
        return ceil(nbytes / data_parallel) if stage >= from_stage else nbytes

    return ZeroStates(share(2 * params, 3), share(2 * params, 2), share(k * params, 1))


@dataclass(frozen=True, slots=True)
class DeepSpeedFigures:
    """DeepSpeed's two printed numbers: per GPU and per node's CPU, in bytes."""

    gpu: int
    cpu: int


def deepspeed_zero2(
    params: int, nodes: int, gpus_per_node: int, cpu_offload: bool, buffer_factor: float = 1.5
) -> DeepSpeedFigures:
    """`estimate_zero2_model_states_mem_needs` (since PR #5099, DeepSpeed v0.14.3).

    offload: GPU 2P, CPU P x max(4 x total_gpus, 16) x factor; none: GPU 2P + int(18P/N)
    (2 fp16 params; 18 = 2 fp16 grads + 4 fp32 grads + 4 fp32 params + 8 Adam m, v), CPU
    P x 4 x gpus_per_node x factor (init-time only).
    """
    total_gpus = nodes * gpus_per_node
    if cpu_offload:
        gpu = 2 * params
        cpu = int(params * max(4 * total_gpus, 16) * buffer_factor)
    else:
        gpu = 2 * params + int(18 * params / total_gpus)
        cpu = int(params * 4 * gpus_per_node * buffer_factor)
    return DeepSpeedFigures(gpu, cpu)


def deepspeed_zero3(
    params: int,
    largest_layer: int,
    nodes: int,
    gpus_per_node: int,
    offload_optimizer: bool,
    offload_params: bool,
    zero_init: bool,
    buffer_factor: float = 1.5,
) -> DeepSpeedFigures:
    """`estimate_zero3_model_states_mem_needs`: largest_layer_memory = 4 x largest layer
    (2 B fp16 params gathered + 2 B fp16 grads), gpus_factor = 1 / nodes.

    Raises ValueError for parameter offload without optimizer offload, a case the
    estimator's printer skips.
    """
    total_gpus = nodes * gpus_per_node
    gpus_factor = 1 / nodes
    layer = 4 * largest_layer
    if offload_optimizer and offload_params:
        gpu = layer
        per_param = 18 * gpus_factor if zero_init else max(4 * gpus_per_node, 18 * gpus_factor)
        cpu = int(params * per_param * buffer_factor)
    elif offload_optimizer:
        gpu = layer + int(2 * params / total_gpus)
        per_param = 16 * gpus_factor if zero_init else max(4 * gpus_per_node, 16 * gpus_factor)
        cpu = int(params * per_param * buffer_factor)
    elif not offload_params:
        gpu = layer + int(18 * params / total_gpus)
        counted = largest_layer if zero_init else params
        cpu = int(counted * 4 * gpus_per_node * buffer_factor)
    else:
        raise ValueError("DeepSpeed's ZeRO-3 estimator has no parameter-only offload case")
    return DeepSpeedFigures(gpu, cpu)


@dataclass(frozen=True, slots=True)
class AccelerateUsage:
    """`estimate_training_usage` components for a batch of 1; Accelerate prints the largest."""

    model: int
    gradients: int
    optimizer: int
    step: int

    @property
    def largest(self) -> int:
        return max(self.model, self.gradients, self.optimizer, self.step)


def accelerate_training(fp32_bytes: int, mixed: bool) -> AccelerateUsage:
    """From the fp32 size of parameters and buffers: float32 model 1x, gradients 1x,
    optimizer 2x, step 4x; float16/bfloat16 model 1x, gradients 1.5x, optimizer 2x, step 2x
    (Accelerate since PR #2581)."""
    fp16 = fp32_bytes // 2
    if mixed:
        return AccelerateUsage(fp32_bytes, fp32_bytes + fp16, 2 * fp32_bytes, 2 * fp32_bytes)
    return AccelerateUsage(fp32_bytes, fp32_bytes, 2 * fp32_bytes, 4 * fp32_bytes)
