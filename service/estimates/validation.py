"""Checks that span several inputs: parallelism as a whole, and the input against the model.

Each check raises `EstimateError` with the field to fix, what is allowed and the source
that says so, before any formula runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.estimates.choices import FsdpStrategy, OffloadDevice
from service.estimates.errors import EstimateError
from service.estimates.shapes import linear_params, targeted

if TYPE_CHECKING:
    from service.estimates.inputs import EstimateInput, Parallelism

DEEPSPEED_CONFIG = "DeepSpeed docs/_pages/config-json.md"
STAGES = ("0", "1", "2", "3")


def whole(field: str, value: object, minimum: int) -> int:
    """`value` if it is a whole number (not a bool) of at least `minimum`, else EstimateError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EstimateError(field, f"must be a whole number, got {value!r}")
    if value < minimum:
        raise EstimateError(field, f"must be at least {minimum}, got {value}")
    return value


def check_parallelism(par: Parallelism) -> None:
    """GPU counts that agree, and sharding/offload combinations DeepSpeed or FSDP accept."""
    if par.gpus is not None:
        whole("parallelism.gpus", par.gpus, 0)
        if par.gpus < 1:
            raise EstimateError(
                "parallelism.gpus",
                "at least 1 GPU is needed: ZeRO and FSDP shard model states across GPUs, and "
                "every estimate is per GPU",
            )
    nodes = whole("parallelism.nodes", par.nodes, 1)
    if par.gpus_per_node is not None:
        per_node = whole("parallelism.gpus_per_node", par.gpus_per_node, 1)
        if par.gpus is not None and par.gpus != nodes * per_node:
            raise EstimateError(
                "parallelism.gpus",
                f"{par.gpus} GPUs disagree with {nodes} nodes x {per_node} GPUs per node; "
                "give one or make them agree",
            )
    elif par.gpus is not None and par.gpus % nodes:
        raise EstimateError(
            "parallelism.nodes", f"{par.gpus} GPUs cannot be split evenly over {nodes} nodes"
        )
    if par.zero_stage not in (0, 1, 2, 3) or isinstance(par.zero_stage, bool):
        raise EstimateError("parallelism.zero_stage", "ZeRO stages are 0 (off) to 3", STAGES)
    tensor_parallel = whole("parallelism.tensor_parallel", par.tensor_parallel, 1)
    if par.total_gpus % tensor_parallel:
        raise EstimateError(
            "parallelism.tensor_parallel",
            f"the tensor-parallel degree must divide the {par.total_gpus} GPUs",
        )
    _check_sharding(par)


def _check_sharding(par: Parallelism) -> None:
    offload = par.offload
    if par.fsdp is not None:
        if par.zero_stage:
            raise EstimateError(
                "parallelism.fsdp",
                "FSDP and DeepSpeed ZeRO are alternatives and cannot be used together (Axolotl's "
                "validator: 'deepspeed and fsdp cannot be used together'); set zero_stage 0 or "
                "fsdp none",
            )
        if offload.optimizer is not OffloadDevice.NONE:
            raise EstimateError(
                "parallelism.offload.optimizer",
                "FSDP has no separate optimizer offload; offload.params = cpu (torch CPUOffload) "
                "moves parameters and gradients to the CPU and runs the optimizer step there",
                ("none",),
            )
        if offload.params is OffloadDevice.NVME:
            raise EstimateError(
                "parallelism.offload.params",
                "FSDP offloads to CPU memory only (torch CPUOffload)",
                ("none", "cpu"),
            )
        if par.fsdp in (FsdpStrategy.HYBRID_SHARD, FsdpStrategy.HYBRID_SHARD_ZERO2) and (
            par.node_gpus % par.tensor_parallel
        ):
            raise EstimateError(
                "parallelism.tensor_parallel",
                "hybrid sharding shards within a node: the tensor-parallel degree must divide "
                "the GPUs per node",
            )
        return
    if offload.params is not OffloadDevice.NONE and par.zero_stage < 3:
        raise EstimateError(
            "parallelism.offload.params",
            f"parameter offload needs ZeRO stage 3, not {par.zero_stage} ({DEEPSPEED_CONFIG}: "
            "offload_param is 'available only with ZeRO stage 3')",
            ("none",),
        )
    if offload.optimizer is not OffloadDevice.NONE and par.zero_stage < 1:
        raise EstimateError(
            "parallelism.offload.optimizer",
            f"optimizer offload needs ZeRO stage 1, 2 or 3 ({DEEPSPEED_CONFIG}: 'CPU "
            "offloading is available with ZeRO stage 1, 2, 3')",
            ("none",),
        )
    nvme = OffloadDevice.NVME in (offload.optimizer, offload.params)
    if nvme and par.zero_stage < 3:
        which = "optimizer" if offload.optimizer is OffloadDevice.NVME else "params"
        raise EstimateError(
            f"parallelism.offload.{which}",
            f"NVMe offload needs ZeRO stage 3, not {par.zero_stage} ({DEEPSPEED_CONFIG}: "
            "'NVMe offloading is available only with ZeRO stage 3')",
            ("none", "cpu"),
        )


def check_input(inp: EstimateInput) -> None:
    """The technique against the model, and tensor parallelism against the heads."""
    model, technique = inp.model, inp.technique
    shape = model.shape
    adapter = technique.adapter
    if adapter is not None:
        if shape is None:
            raise EstimateError(
                "model.shape",
                f"{technique.method.value} adapters are sized by the modules they target: give "
                "the model shape",
            )
        targeted(shape, adapter.targets)
    if technique.quantized is not None:
        if shape is None:
            raise EstimateError(
                "model.shape", "a quantized base is sized by its linear modules: give the shape"
            )
        if model.params is not None and linear_params(shape) > model.params:
            raise EstimateError(
                "model.params",
                f"the shape's linear layers alone hold {linear_params(shape):,} parameters, more "
                f"than the {model.params:,} given; fix the shape or the count",
            )
    tensor_parallel = inp.parallelism.tensor_parallel
    if shape is not None and tensor_parallel > 1 and shape.kv % tensor_parallel:
        raise EstimateError(
            "parallelism.tensor_parallel",
            f"tensor parallelism splits attention heads: t = {tensor_parallel} must divide the "
            f"{shape.kv} key/value heads",
        )
