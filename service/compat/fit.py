"""Will the plan fit its GPUs? Checks that catch a job that cannot start: FTM401-FTM403.

Pure (the standard library, the estimator core, the offering rules and `service.detect.plan`):
the offline CLI and the API call the same `fit_findings` with the same data (the `models` and
`hardware` lists of the snapshot document), so their findings cannot differ.

The plan's canonical settings become the estimator's input (`plan_input`): ZeRO stage and
offload, FSDP strategy, precision, quantization, LoRA rank and targets, micro-batch, sequence
length and gradient checkpointing. What a technique id itself says (the ZeRO stage of
`zero-2`, the adapter method of `qlora`, FSDP's default strategy) comes from
`service.estimates.techniques`, the table `GET /v1/recommendations` counts with. What the
configs do not say is assumed and said so in the finding's details: AdamW with 32-bit states
(no optimizer setting is read), bf16/fp16 as mixed precision with fp32 master weights, one
GPU, and no activations when no sequence length is known. Guessed settings
(`PlannedSetting.guessed`) decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.compat.findings import (
    FIT_EXCEEDED,
    FIT_LOW_HEADROOM,
    FIT_NOT_CHECKED,
    RULES,
    Finding,
)
from service.detect.plan import Location, Plan, SettingValue
from service.estimates import (
    Activations,
    Component,
    EstimateError,
    EstimateInput,
    Fix,
    FsdpStrategy,
    LoraSpec,
    Method,
    Numerics,
    Offload,
    OffloadDevice,
    Parallelism,
    Precision,
    Quantization,
    QuantType,
    Technique,
    cheapest_fix,
    estimate,
)
from service.estimates.entities import Entity, catalog_model, lookup, memory_bytes
from service.estimates.result import GIB
from service.estimates.techniques import (
    ADAPTER_METHODS,
    DEFAULT_FSDP,
    PEFT_DEFAULTS,
    ZERO_STAGES,
)

HEADROOM_SHARE = 0.10
"""Below this share of the GPU's memory left free, a plan that fits gets FTM402: the
fragmentation allowance itself is a rule of thumb ("~10-20% overhead", finetune-facts.yaml,
confidence medium), so a thinner margin is not safe to rely on."""

_PRECISIONS = {"bf16": Precision.BF16_MIXED, "fp16": Precision.FP16_MIXED, "fp32": Precision.FP32}
_LOCATED = (
    "deepspeed.zero_stage",
    "deepspeed.offload_optimizer",
    "deepspeed.offload_param",
    "fsdp.sharding_strategy",
    "train.micro_batch",
    "train.seq_len",
    "train.gradient_checkpointing",
)


@dataclass(frozen=True, slots=True)
class FitTarget:
    """What the plan is to run on: a hardware id of the data and, optionally, how many GPUs
    (None: the config's `train.gpus`, else 1)."""

    hardware: str
    gpus: int | None = None


@dataclass(frozen=True, slots=True)
class PlanInput:
    """The estimator input read from a plan, and what had to be assumed to build it."""

    input: EstimateInput
    assumptions: tuple[str, ...] = ()
    settings: tuple[str, ...] = field(default=())
    """The canonical settings that were read (their locations point at the finding)."""


def _read(plan: Plan, name: str) -> SettingValue | None:
    setting = plan.settings.get(name)
    return None if setting is None or setting.guessed else setting.value


def _int(plan: Plan, name: str) -> int | None:
    value = _read(plan, name)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _device(value: SettingValue | None) -> OffloadDevice:
    text = str(value).casefold() if value is not None else "none"
    return next((d for d in OffloadDevice if d.value == text), OffloadDevice.NONE)


def _technique(plan: Plan, ids: set[str], notes: list[str]) -> Technique:
    bits = _int(plan, "quant.bits")
    named = {ADAPTER_METHODS[t] for t in ids if t in ADAPTER_METHODS}
    # The strongest adapter named wins; a quantization setting turns LoRA into QLoRA.
    method = (
        Method.QLORA
        if Method.QLORA in named or (bits is not None and Method.LORA in named)
        else Method.DORA
        if Method.DORA in named
        else Method.LORA
        if Method.LORA in named
        else Method.FULL
    )
    if method is Method.FULL:
        notes.append("no adapter technique in the plan: counted as full fine-tuning")
        return Technique(Method.FULL)
    rank = _int(plan, "lora.rank")
    targets = _read(plan, "lora.targets")
    spec = PEFT_DEFAULTS
    try:
        spec = LoraSpec(
            rank=rank or spec.rank,
            targets=tuple(str(t) for t in targets) if isinstance(targets, tuple) else spec.targets,
        )
    except EstimateError as exc:
        notes.append(f"LoRA settings not counted as read ({exc}); PEFT's defaults assumed")
    if rank is None:
        notes.append(f"no LoRA rank in the configs: PEFT's default r={spec.rank} assumed")
    quant = None
    if method is Method.QLORA or (method is Method.DORA and bits is not None):
        double = _read(plan, "quant.double_quant")
        kind = _read(plan, "quant.type")
        four = (bits or 4) == 4
        quant = Quantization(
            bits=bits if bits in (4, 8) else 4,
            type=next((q for q in QuantType if four and q.value == kind), None),
            double_quant=double if four and isinstance(double, bool) else None,
        )
    return Technique(method, lora=spec, quantization=quant)


def _parallelism(plan: Plan, ids: set[str], gpus: int, notes: list[str]) -> Parallelism:
    strategy = _read(plan, "fsdp.sharding_strategy")
    if "fsdp" in ids or strategy is not None:
        text = str(strategy).upper() if strategy is not None else ""
        fsdp = next((s for s in FsdpStrategy if s.value == text), None)
        if fsdp is None:
            fsdp = DEFAULT_FSDP
            notes.append(f"no FSDP sharding strategy read: {fsdp.value} (torch's default) assumed")
        offload = (
            Offload(params=OffloadDevice.CPU) if _read(plan, "fsdp.offload_params") else Offload()
        )
        return Parallelism(gpus=gpus, fsdp=fsdp, offload=offload)
    stage = _int(plan, "deepspeed.zero_stage")
    if stage is None:
        stage = max((ZERO_STAGES[t] for t in ids if t in ZERO_STAGES), default=0)
    offload = Offload(
        optimizer=_device(_read(plan, "deepspeed.offload_optimizer")),
        params=_device(_read(plan, "deepspeed.offload_param")),
    )
    return Parallelism(gpus=gpus, zero_stage=stage if 0 <= stage <= 3 else 0, offload=offload)


def plan_input(plan: Plan, record: Entity, gpus: int | None = None) -> PlanInput:
    """The estimator input for `plan` on `gpus` GPUs (None: the config's `train.gpus`, else
    1), with the model from its catalog `record`. Raises EstimateError when the model has no
    shape or the settings form an input the estimator refuses."""
    found = catalog_model(record)
    notes = list(found.notes)
    ids = {t.id for t in plan.techniques}
    count = gpus or _int(plan, "train.gpus") or 1
    if gpus is None and _int(plan, "train.gpus") is None:
        notes.append("no GPU count given or read: one GPU assumed")
    technique = _technique(plan, ids, notes)
    parallelism = _parallelism(plan, ids, count, notes)
    precision = _PRECISIONS.get(str(_read(plan, "precision")))
    if precision is None:
        precision = Precision.BF16_MIXED
        notes.append("no usable precision read: bf16 mixed precision assumed")
    elif precision is not Precision.FP32:
        notes.append(
            f"{precision.value.split('-')[0]} read as mixed precision (fp32 master weights)"
        )
    notes.append("optimizer not read from the configs: AdamW with 32-bit states assumed")
    seq_len = _int(plan, "train.seq_len")
    batch = None
    if seq_len is None:
        notes.append("no sequence length in the configs: activations not counted")
    else:
        batch = Activations(
            seq_len=seq_len,
            micro_batch=_int(plan, "train.micro_batch") or 1,
            gradient_checkpointing=bool(_read(plan, "train.gradient_checkpointing")),
        )
        if _int(plan, "train.micro_batch") is None:
            notes.append("no micro-batch size in the configs: 1 assumed")
    inp = EstimateInput(
        model=found.model,
        technique=technique,
        numerics=Numerics(precision=precision),
        parallelism=parallelism,
        activations=batch,
    )
    read = tuple(name for name in _LOCATED if _read(plan, name) is not None)
    return PlanInput(inp, tuple(notes), read)


def _gib(n: int) -> str:
    return GIB.format(abs(n), 1)


def _finding(rule: str, message: str, plan: Plan, *, fix: str | None = None,
             details: Sequence[str] = (), evidence: Sequence[str] = (),
             settings: Sequence[str] = ()) -> Finding:  # fmt: skip
    locations: list[Location] = []
    if plan.model is not None and plan.model.location is not None:
        locations.append(plan.model.location)
    for name in settings:
        where = plan.settings[name].location
        if where is not None and where not in locations:
            locations.append(where)
    return Finding(
        rule=rule,
        severity=RULES[rule].severity,
        message=message,
        techniques=tuple(sorted({t.id for t in plan.techniques})),
        evidence=tuple(dict.fromkeys(evidence)),
        fix=fix,
        locations=tuple(locations),
        details=tuple(details),
    )


def _not_checked(plan: Plan, why: str, details: Sequence[str] = ()) -> list[Finding]:
    return [_finding(FIT_NOT_CHECKED, f"Fit not checked: {why}.", plan, details=details)]


def fit_findings(
    models: Sequence[Entity],
    hardware: Sequence[Entity],
    plan: Plan,
    target: FitTarget,
) -> list[Finding]:
    """FTM401-FTM403 for `plan` (its model: `plan.model`) on `target`: `models` and
    `hardware` are the snapshot document's lists. The caller has checked that
    `target.hardware` names a record of `hardware` (the CLI exits 2 and the API answers 422
    otherwise); an unknown one here reads as memory not known."""
    name = plan.model.name if plan.model else None
    if name is None:
        return _not_checked(plan, "the configs name no base model (give --model)")
    record = lookup(models, name)
    if record is None:
        return _not_checked(plan, f"{name!r} is not a model in the catalog")
    gpu = lookup(hardware, target.hardware)
    memory = memory_bytes(gpu) if gpu is not None else None
    if gpu is None or memory is None:
        return _not_checked(plan, f"the data states no GPU memory for {target.hardware}")
    try:
        read = plan_input(plan, record, target.gpus)
        result = estimate(read.input)
    except EstimateError as exc:
        return _not_checked(plan, f"{record['id']} cannot be estimated ({exc.message})")
    gpus = read.input.parallelism.total_gpus
    where = f"{gpus} x {gpu['id']}" if gpus > 1 else str(gpu["id"])
    total, headroom = result.per_gpu.total, memory - result.per_gpu.total
    parts = sorted(
        ((result.per_gpu.component(c), c) for c in Component), key=lambda p: (-p[0], p[1].value)
    )
    biggest = f"{parts[0][1].value.replace('_', ' ')} ({_gib(parts[0][0])})"
    breakdown = ", ".join(f"{c.value.replace('_', ' ')} {_gib(n)}" for n, c in parts if n)
    details = (
        f"Per GPU (ftmatrix profile): {breakdown}; total {_gib(total)} of {_gib(memory)}.",
        *(f"Assumed: {note}." for note in read.assumptions),
        "POST /v1/estimates or ftmatrix estimate shows every term with its formula and source.",
    )
    evidence = (*catalog_model(record).sources, *(str(s) for s in gpu.get("sources") or ()))
    stated = f"{_gib(memory)} ({memory / 1e9:g} GB)"
    if headroom < 0:
        fix = cheapest_fix(read.input, memory)
        return [_finding(
            FIT_EXCEEDED,
            f"Estimated {_gib(total)} per GPU does not fit the {stated} of {where}: short by "
            f"{_gib(headroom)}; the largest part is {biggest}.", plan,
            fix=_fix_text(fix, memory, where), details=details, evidence=evidence,
            settings=read.settings)]  # fmt: skip
    if headroom < HEADROOM_SHARE * memory:
        fix = cheapest_fix(read.input, int(memory * (1 - HEADROOM_SHARE)))
        return [_finding(
            FIT_LOW_HEADROOM,
            f"Estimated {_gib(total)} per GPU leaves {_gib(headroom)} "
            f"({headroom / memory:.0%}) of the {stated} of {where}: under the "
            f"{HEADROOM_SHARE:.0%} margin; the largest part is {biggest}.", plan,
            fix=_fix_text(fix, memory, where), details=details, evidence=evidence,
            settings=read.settings)]  # fmt: skip
    return []


def _fix_text(fix: Fix | None, memory: int, where: str) -> str:
    if fix is None:
        return (
            f"No change the estimator tries (higher ZeRO stage, offload, gradient "
            f"checkpointing, QLoRA, smaller micro-batch) is enough on {where}: use more or "
            "larger GPUs, or a smaller model."
        )
    after = fix.estimate.per_gpu.total
    return (
        f"{_first_upper('; '.join(fix.changes))}: about {_gib(after)} per GPU, "
        f"{_gib(memory - after)} free."
    )


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]
