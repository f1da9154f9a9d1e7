"""The accounting profiles that reproduce published figures: zero-paper, deepspeed, accelerate.

Each counts only what its source counts and refuses, with an EstimateError, an input its
source has no formula for, rather than stretching the formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from service.estimates import formulas
from service.estimates.choices import (
    Component,
    Method,
    NoteKind,
    OffloadDevice,
    Optimizer,
    Place,
    Precision,
    Profile,
)
from service.estimates.counts import count
from service.estimates.errors import EstimateError
from service.estimates.ftmatrix import finish
from service.estimates.inputs import EstimateInput
from service.estimates.result import GB, Breakdown, Estimate, Ledger, Unit
from service.estimates.sources import (
    ACCELERATE,
    DEEPSPEED_DOCS,
    DEEPSPEED_ZERO2,
    DEEPSPEED_ZERO3,
    ZERO,
    disagreement,
)

GIB_AS_GB = Unit("GiB", 2**30, "GB")
"""DeepSpeed prints bytes / 2**30 and Accelerate divides by 1024 per step; both say "GB"."""
A = NoteKind.ASSUMPTION
MIXED = (Precision.FP16_MIXED.value, Precision.BF16_MIXED.value)


def _refuse(field: str, profile: Profile, why: str, allowed: Sequence[str] = ()) -> EstimateError:
    return EstimateError(field, f"the {profile.value} profile {why}", allowed)


def _full_adamw(inp: EstimateInput, profile: Profile, precisions: Sequence[str]) -> None:
    if inp.technique.method is not Method.FULL:
        raise _refuse(
            "technique.method",
            profile,
            "counts full fine-tuning only (its source has no formula for adapters or quantized "
            "bases); use the ftmatrix profile",
            ("full",),
        )
    if inp.numerics.optimizer is not Optimizer.ADAMW:
        raise _refuse("numerics.optimizer", profile, "counts Adam only", ("adamw",))
    if inp.numerics.precision.value not in precisions:
        raise _refuse(
            "numerics.precision", profile, "has no formula for this precision", precisions
        )
    par = inp.parallelism
    if par.fsdp is not None:
        raise _refuse("parallelism.fsdp", profile, "does not count FSDP", ("none",))
    if par.tensor_parallel != 1:
        raise _refuse(
            "parallelism.tensor_parallel", profile, "counts data parallelism only", ("1",)
        )


def _no_offload(inp: EstimateInput, profile: Profile) -> None:
    offload = inp.parallelism.offload
    if (offload.optimizer, offload.params) != (OffloadDevice.NONE, OffloadDevice.NONE):
        raise _refuse("parallelism.offload", profile, "does not count offload", ("none",))


def _excludes_activations(led: Ledger, inp: EstimateInput, source: str) -> None:
    ignored = " (the batch given is ignored)" if inp.activations is not None else ""
    led.note(
        A,
        "model-states-only",
        f"Model states only, as the source counts: activations, temporary buffers and "
        f"fragmentation are excluded{ignored}.",
        source,
    )


def estimate_zero_paper(inp: EstimateInput) -> Estimate:
    """(2 + 2 + K)Ψ with K = 12 and the stage formulas, per GPU, in GB = 10^9 bytes."""
    profile = Profile.ZERO_PAPER
    _full_adamw(inp, profile, MIXED)
    _no_offload(inp, profile)
    led = Ledger()
    counts = count(inp.model, inp.technique, led)
    stage, n = inp.parallelism.zero_stage, inp.parallelism.data_parallel
    z = formulas.zero_paper(counts.total, n, stage)
    over = {s: f"/N_d (N_d={n})" if stage >= s else "" for s in (1, 2, 3)}
    led.add(Place.GPU, Component.WEIGHTS, z.weights, "fp16 parameters", f"2Ψ{over[3]}", ZERO)
    led.add(Place.GPU, Component.GRADIENTS, z.gradients, "fp16 gradients", f"2Ψ{over[2]}", ZERO)
    led.add(
        Place.GPU,
        Component.OPTIMIZER_STATES,
        z.optimizer,
        "fp32 parameters, momentum and variance",
        f"KΨ{over[1]}, K=12",
        ZERO,
    )
    disagreement(led, 1, "the ZeRO paper: 16 B/param, 2 + 2 + K with K = 12.")
    _excludes_activations(led, inp, ZERO)
    led.note(A, "units", "GB means 10^9 bytes, as in the paper (16 x 7.5e9 = 120 GB).", ZERO)
    return finish(led, inp, counts, profile, GB)


def _split(total: int, shares: dict[Component, int]) -> dict[Component, int]:
    """`total` divided among components in proportion to `shares` (the last takes the rest)."""
    whole = sum(shares.values())
    parts: dict[Component, int] = {}
    left = total
    for index, (component, share) in enumerate(shares.items()):
        last = index == len(shares) - 1
        parts[component] = left if last else total * share // whole
        left -= parts[component]
    return parts


INIT = {Component.OTHER: 1}
STATES16 = {Component.GRADIENTS: 4, Component.OPTIMIZER_STATES: 12}
STATES18 = {Component.WEIGHTS: 2, Component.GRADIENTS: 4, Component.OPTIMIZER_STATES: 12}


def estimate_deepspeed(inp: EstimateInput) -> Estimate:
    """DeepSpeed's ZeRO-2 / ZeRO-3 model-state estimators, per GPU and per node's CPU."""
    profile = Profile.DEEPSPEED
    _full_adamw(inp, profile, MIXED)
    par, acc = inp.parallelism, inp.accounting
    if par.zero_stage not in (2, 3):
        raise _refuse(
            "parallelism.zero_stage",
            profile,
            "follows DeepSpeed's estimators, which exist for ZeRO-2 and ZeRO-3 only",
            ("2", "3"),
        )
    offload = par.offload
    if OffloadDevice.NVME in (offload.optimizer, offload.params):
        raise _refuse("parallelism.offload", profile, "has no NVMe case", ("none", "cpu"))
    opt_cpu, param_cpu = offload.optimizer is OffloadDevice.CPU, offload.params is OffloadDevice.CPU
    led = Ledger()
    counts = count(inp.model, inp.technique, led)
    p, nodes, per_node = counts.total, par.nodes, par.node_gpus
    gpus = nodes * per_node
    f = acc.buffer_factor
    gpu: dict[Component, tuple[int, str]]
    if par.zero_stage == 2:
        figs = formulas.deepspeed_zero2(p, nodes, per_node, opt_cpu, f)
        src, label = DEEPSPEED_ZERO2, "estimate_zero2"
        gpu = {Component.WEIGHTS: (2 * p, "2P (fp16 params)")}
        if not opt_cpu:
            shares = {Component.GRADIENTS: 6, Component.OPTIMIZER_STATES: 12}
            for component, n_bytes in _split(figs.gpu - 2 * p, shares).items():
                gpu[component] = (n_bytes, f"{shares[component]}/18 of int(18P/{gpus})")
        cpu_kind = STATES16 if opt_cpu and 4 * gpus <= 16 else INIT
        cpu_formula = f"P x max(4 x {gpus}, 16) x {f}" if opt_cpu else f"P x 4 x {per_node} x {f}"
        disagreement(led, 2, "the current code (2P + 18P/N; CPU offload term over all GPUs).")
    else:
        if param_cpu and not opt_cpu:
            raise _refuse(
                "parallelism.offload",
                profile,
                "follows DeepSpeed's ZeRO-3 estimator, which has no case for parameter offload "
                "without optimizer offload",
                ("optimizer=cpu,params=cpu", "optimizer=cpu", "none"),
            )
        largest = counts.largest_layer
        if largest is None:
            raise EstimateError(
                "model.largest_layer_params",
                "DeepSpeed's ZeRO-3 estimator needs the largest layer's parameters: give them "
                "or the model shape",
            )
        figs = formulas.deepspeed_zero3(
            p, largest, nodes, per_node, opt_cpu, param_cpu, par.zero_init, f
        )
        src, label = DEEPSPEED_ZERO3, "estimate_zero3"
        gpu = {Component.OTHER: (4 * largest, "4 x largest layer (fp16 params + grads)")}
        rest = figs.gpu - 4 * largest
        if opt_cpu and not param_cpu:
            gpu[Component.WEIGHTS] = (rest, f"int(2P/{gpus})")
        elif not opt_cpu:
            for component, n_bytes in _split(rest, STATES18).items():
                gpu[component] = (n_bytes, f"{STATES18[component]}/18 of int(18P/{gpus})")
        by = 18 if param_cpu else 16
        states_win = par.zero_init or 4 * per_node <= by / nodes
        cpu_kind = (STATES18 if param_cpu else STATES16) if opt_cpu and states_win else INIT
        if not opt_cpu:
            counted = "largest layer" if par.zero_init else "P"
            cpu_formula = f"{counted} x 4 x {per_node} x {f}"
        elif par.zero_init:
            cpu_formula = f"P x {by} / {nodes} nodes x {f}"
        else:
            cpu_formula = f"P x max(4 x {per_node}, {by} / {nodes} nodes) x {f}"
    for component, (n_bytes, formula) in gpu.items():
        led.add(Place.GPU, component, n_bytes, f"{label} GPU share", formula, src)
    what = "init-time fp32 copies" if cpu_kind is INIT else "offloaded fp32 states"
    for component, n_bytes in _split(figs.cpu, cpu_kind).items():
        whole = sum(cpu_kind.values())
        share = f"{cpu_kind[component]}/{whole} of " if len(cpu_kind) > 1 else ""
        led.add(Place.CPU, component, n_bytes, f"{label} CPU ({what})", share + cpu_formula, src)
    disagreement(
        led,
        1,
        "DeepSpeed's estimator: ZeRO-2 2 + 18 B/param over N GPUs; ZeRO-3 18 B/param plus "
        "4 B x largest layer.",
    )
    _excludes_activations(led, inp, DEEPSPEED_DOCS)
    led.note(
        A,
        "deepspeed-cpu",
        f"CPU figures are per node and include DeepSpeed's additional_buffer_factor "
        f"({acc.buffer_factor}); without offload they are the init-time fp32 copies "
        f"(zero_init={par.zero_init}), not steady state. Figures are bytes / 2**30, which "
        "DeepSpeed labels GB (GiB here).",
        src,
    )
    return finish(led, inp, counts, profile, GIB_AS_GB)


def estimate_accelerate(inp: EstimateInput) -> Estimate:
    """`accelerate estimate-memory`'s 'Training using Adam': the largest single component."""
    profile = Profile.ACCELERATE
    _full_adamw(inp, profile, (Precision.FP32.value, *MIXED))
    _no_offload(inp, profile)
    if inp.parallelism.zero_stage:
        raise _refuse("parallelism.zero_stage", profile, "does not count ZeRO", ("0",))
    led = Ledger()
    counts = count(inp.model, inp.technique, led)
    fp32 = 4 * counts.total + inp.model.buffer_bytes
    mixed = inp.numerics.precision.mixed
    usage = formulas.accelerate_training(fp32, mixed)
    parts = (
        (Component.WEIGHTS, usage.model, "model", "1x"),
        (Component.GRADIENTS, usage.gradients, "gradients", "1.5x" if mixed else "1x"),
        (Component.OPTIMIZER_STATES, usage.optimizer, "optimizer", "2x"),
        (Component.OTHER, usage.step, "optimizer step", "2x" if mixed else "4x"),
    )
    for component, n_bytes, name, factor in parts:
        formula = f"{factor} the fp32 size ({fp32:,} B of parameters and buffers)"
        led.add(Place.GPU, component, n_bytes, name, formula, ACCELERATE)
    disagreement(
        led, 1, "Accelerate: the largest single component, 8 B/param mixed, 16 B/param fp32."
    )
    disagreement(led, 3, "the current code (int8/int4 training: N/A, so refused here).")
    led.note(
        A,
        "largest-component",
        "total and model_states are the largest single component, not the sum, for a batch of "
        "1 without sharding or offload, as Accelerate prints them; activations are excluded. "
        "Accelerate divides by 1024 per step and labels the result MB/GB (MiB/GiB here).",
        ACCELERATE,
    )
    est = finish(led, inp, counts, profile, GIB_AS_GB)
    gpu = est.per_gpu
    largest = Breakdown(
        weights=gpu.weights,
        gradients=gpu.gradients,
        optimizer_states=gpu.optimizer_states,
        other=gpu.other,
        model_states=usage.largest,
        total=usage.largest,
    )
    return replace(est, per_gpu=largest)
