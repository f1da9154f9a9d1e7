"""Does it fit, and if not, what is the cheapest change that would make it fit?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from service.estimates.choices import FsdpStrategy, Method, OffloadDevice
from service.estimates.errors import EstimateError
from service.estimates.inputs import EstimateInput, Offload, Quantization, Technique
from service.estimates.profiles import estimate
from service.estimates.result import Estimate


def fits(estimate: Estimate, memory_bytes: int) -> tuple[bool, int]:
    """Whether the per-GPU total fits in `memory_bytes` of GPU memory, and the headroom in
    bytes (negative by the shortfall when it does not fit)."""
    headroom = memory_bytes - estimate.per_gpu.total
    return headroom >= 0, headroom


@dataclass(frozen=True, slots=True)
class Fix:
    """A change that makes the job fit: what changed, the changed input and its estimate."""

    changes: tuple[str, ...]
    input: EstimateInput
    estimate: Estimate
    headroom_bytes: int


Option = tuple[str, Callable[[], EstimateInput]]
"""A change: its description, and how to build the changed input (which may be invalid)."""
Step = Callable[[EstimateInput], list[Option]]

_FSDP_NEXT = {
    FsdpStrategy.NO_SHARD: (FsdpStrategy.SHARD_GRAD_OP, FsdpStrategy.FULL_SHARD),
    FsdpStrategy.SHARD_GRAD_OP: (FsdpStrategy.FULL_SHARD,),
    FsdpStrategy.HYBRID_SHARD_ZERO2: (FsdpStrategy.HYBRID_SHARD, FsdpStrategy.FULL_SHARD),
    FsdpStrategy.HYBRID_SHARD: (FsdpStrategy.FULL_SHARD,),
    FsdpStrategy.FULL_SHARD: (),
}


def _higher_stage(inp: EstimateInput) -> list[Option]:
    par = inp.parallelism
    if par.fsdp is not None:
        return [
            (f"FSDP {s.value} instead of {par.fsdp.value}", partial(_par, inp, fsdp=s))
            for s in _FSDP_NEXT[par.fsdp]
        ]
    return [
        (f"ZeRO stage {n} instead of {par.zero_stage}", partial(_par, inp, zero_stage=n))
        for n in range(par.zero_stage + 1, 4)
    ]


def _offload_optimizer(inp: EstimateInput) -> list[Option]:
    par = inp.parallelism
    if par.fsdp is not None:
        if par.offload.params is not OffloadDevice.NONE:
            return []
        fsdp_offload = Offload(params=OffloadDevice.CPU)
        return [
            (
                "FSDP CPU offload (parameters, gradients, optimizer step)",
                lambda: _par(inp, offload=fsdp_offload),
            )
        ]
    if par.offload.optimizer is not OffloadDevice.NONE:
        return []
    offload = replace(par.offload, optimizer=OffloadDevice.CPU)
    if par.zero_stage == 0:
        return [
            (
                "ZeRO stage 1 with optimizer offload to CPU",
                lambda: _par(inp, zero_stage=1, offload=offload),
            )
        ]
    return [("optimizer offload to CPU", lambda: _par(inp, offload=offload))]


def _checkpointing(inp: EstimateInput) -> list[Option]:
    batch = inp.activations
    if batch is None or batch.gradient_checkpointing:
        return []
    return [
        (
            "gradient checkpointing",
            lambda: replace(inp, activations=replace(batch, gradient_checkpointing=True)),
        )
    ]


def _quantized_base(inp: EstimateInput) -> list[Option]:
    tech = inp.technique
    if tech.method in (Method.FULL, Method.LORA):
        return [
            (
                f"QLoRA (4-bit NF4 base) instead of {tech.method.value}",
                lambda: replace(inp, technique=Technique(Method.QLORA, lora=tech.adapter)),
            )
        ]
    if tech.method is Method.DORA and tech.quantization is None:
        qdora = replace(tech, quantization=Quantization())
        return [("QDoRA (DoRA on a 4-bit NF4 base)", lambda: replace(inp, technique=qdora))]
    return []


def _smaller_batch(inp: EstimateInput) -> list[Option]:
    batch = inp.activations
    if batch is None:
        return []
    options: list[Option] = []
    size = batch.micro_batch // 2
    while size >= 1:
        smaller = replace(batch, micro_batch=size)
        options.append(
            (
                f"micro-batch {size} instead of {batch.micro_batch}",
                partial(replace, inp, activations=smaller),
            )
        )
        size //= 2
    return options


STEPS: tuple[Step, ...] = (
    _higher_stage,
    _offload_optimizer,
    _checkpointing,
    _quantized_base,
    _smaller_batch,
)
"""The changes tried, cheapest first; each lists its options from mildest to strongest."""


def _par(
    inp: EstimateInput,
    *,
    zero_stage: int | None = None,
    fsdp: FsdpStrategy | None = None,
    offload: Offload | None = None,
) -> EstimateInput:
    par = inp.parallelism
    changed = replace(
        par,
        zero_stage=par.zero_stage if zero_stage is None else zero_stage,
        fsdp=par.fsdp if fsdp is None else fsdp,
        offload=par.offload if offload is None else offload,
    )
    return replace(inp, parallelism=changed)


def _try(build: Callable[[], EstimateInput], memory_bytes: int) -> Fix | EstimateInput | None:
    """The Fix when the built input fits; the input when it does not; None when invalid."""
    try:
        candidate = build()
        result = estimate(candidate)
    except EstimateError:
        return None
    ok, headroom = fits(result, memory_bytes)
    return Fix((), candidate, result, headroom) if ok else candidate


def cheapest_fix(inp: EstimateInput, memory_bytes: int) -> Fix | None:
    """The first change, in order of cost, after which `inp` fits in `memory_bytes` per GPU.

    Tried in order: a higher ZeRO stage (or stronger FSDP sharding), optimizer offload,
    gradient checkpointing, QLoRA instead of LoRA or full fine-tuning, a smaller micro-batch
    (the largest that fits). Each change is first tried alone; when none suffices alone they
    are combined in the same order, keeping each one that saves memory. Returns None when the
    input already fits or nothing makes it fit. Changes the profile cannot count are skipped;
    an input that is itself invalid raises EstimateError.
    """
    if fits(estimate(inp), memory_bytes)[0]:
        return None
    for step in STEPS:
        for description, build in step(inp):
            found = _try(build, memory_bytes)
            if isinstance(found, Fix):
                return replace(found, changes=(description,))
    current, changes = inp, tuple[str, ...]()
    current_total = estimate(inp).per_gpu.total
    for step in STEPS:
        best: tuple[str, EstimateInput, int] | None = None
        for description, build in step(current):
            found = _try(build, memory_bytes)
            if isinstance(found, Fix):
                return replace(found, changes=(*changes, description))
            if found is not None:
                total = estimate(found).per_gpu.total
                if best is None or total < best[2]:
                    best = (description, found, total)
        # A change is kept for the next ones only if it saved memory by itself.
        if best is not None and best[2] < current_total:
            current, changes, current_total = best[1], (*changes, best[0]), best[2]
    return None
