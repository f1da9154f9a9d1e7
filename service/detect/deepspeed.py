"""DeepSpeed configs: the JSON file itself, and `deepspeed:` references from YAML configs.

What is read follows DeepSpeed's configuration reference (docs/_pages/config-json.md in
deepspeedai/DeepSpeed): `zero_optimization.stage` 0-3 (0 or absent: ZeRO off; the deprecated
boolean form `"zero_optimization": true` is stage 1), optimizer offload to cpu (any stage) or
nvme (stage 3 only), parameter offload (stage 3 only), the ZeRO++ switches (an extension of
stage 3), and `"auto"` wherever the Hugging Face and Accelerate templates put it.
"""

from __future__ import annotations

from service.detect.document import Document, KeyPath, dotted
from service.detect.dsname import infer_from_name
from service.detect.errors import DetectError
from service.detect.jsonpos import parse_json_object
from service.detect.plan import Location, Plan, PlannedTechnique
from service.detect.references import Resolver, Source, Unavailable
from service.detect.values import boolean, choice, integer, invalid, is_auto, note, record

__all__ = [
    "MARKERS",
    "TOP_LEVEL_KEYS",
    "Resolver",
    "Source",
    "Unavailable",
    "count_offload",
    "deepspeed_plan",
    "deepspeed_reference",
    "detect_deepspeed",
    "infer_from_name",
    "looks_like_deepspeed",
]

MARKERS = frozenset(
    {
        "zero_optimization",
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "zero_allow_untested_optimizer",
        "zero_force_ds_cpu_optimizer",
        "steps_per_print",
        "wall_clock_breakdown",
        "flops_profiler",
        "autotuning",
        "comms_logger",
        "aio",
        "elasticity",
        "compression_training",
        "data_efficiency",
    }
)
"""Top-level keys that only a DeepSpeed config has: any one of them marks a JSON file as one."""

TOP_LEVEL_KEYS = MARKERS | {
    "gradient_accumulation_steps",
    "optimizer",
    "scheduler",
    "fp16",
    "bf16",
    "bfloat16",
    "amp",
    "torch_autocast",
    "gradient_clipping",
    "prescale_gradients",
    "gradient_predivide_factor",
    "sparse_gradients",
    "communication_data_type",
    "activation_checkpointing",
    "sparse_attention",
    "tensor_parallel",
    "curriculum_learning",
    "checkpoint",
    "data_types",
    "dump_state",
    "memory_breakdown",
    "tensorboard",
    "wandb",
    "csv_monitor",
}
"""Top-level keys of DeepSpeed's configuration reference, including ones other tools share."""

_ZERO_PLUS_PLUS = ("zero_quantized_weights", "zero_quantized_gradients")
_ZERO_PLUS_PLUS_MIXED = "zero_quantized_nontrainable_weights"
_HPZ = "zero_hpz_partition_size"


def looks_like_deepspeed(value: object) -> bool:
    """Whether a parsed JSON value is a DeepSpeed config.

    It is when it is an object with a key only DeepSpeed uses (`MARKERS`), or when every one of
    its keys is a DeepSpeed top-level key and at least one of them holds an object (DeepSpeed's
    sections, such as `"fp16": {"enabled": "auto"}`, are objects).
    """
    if not isinstance(value, dict) or not value:
        return False
    if any(key in MARKERS for key in value):
        return True
    return all(key in TOP_LEVEL_KEYS for key in value) and any(
        isinstance(item, dict) for item in value.values()
    )


def detect_deepspeed(text: str, file: str) -> Plan:
    """Techniques and settings of a DeepSpeed JSON config; findings point into `file`.

    Always `deepspeed`; with ZeRO stage 1-3 also `zero` and `zero-<stage>`; optimizer or
    parameter offload to cpu gives `zero-offload`, to nvme `zero-infinity`; ZeRO++
    (`zero_quantized_weights`, `zero_quantized_gradients`, `zero_quantized_nontrainable_weights`,
    `zero_hpz_partition_size` > 1) gives `zero-plus-plus`. Features DeepSpeed documents as stage 3
    only are not counted at stages 1-2 (a note says so). Raises DetectError for invalid JSON, a
    top level that is not an object, or an invalid value (`"stage": 7`, `"device": "gpu"`).
    """
    return deepspeed_plan(parse_json_object(text, file, "a DeepSpeed config"))


def deepspeed_plan(doc: Document, at: KeyPath = ()) -> Plan:
    """Techniques of the DeepSpeed config found at key path `at` of `doc` (the root by default)."""
    plan = Plan()
    zero = (*at, "zero_optimization")
    stage_key = (*zero, "stage")
    stage, phrase = _stage(doc, zero, stage_key)
    markers = sorted(key for key in (doc.get(at) or {}) if key in MARKERS)
    where = next(
        (path for path in (stage_key, zero, *((*at, m) for m in markers)) if doc.has(path)), at
    )
    plan.add_technique(
        PlannedTechnique("deepspeed", doc.location(where), f"DeepSpeed config, {phrase}")
    )
    record(plan, doc, "deepspeed.zero_stage", stage_key if doc.has(stage_key) else zero, stage)
    if stage in (1, 2, 3):
        evidence = phrase.removesuffix(" (deprecated boolean form)")
        here = doc.location(stage_key if doc.has(stage_key) else zero)
        plan.add_technique(PlannedTechnique("zero", here, evidence))
        plan.add_technique(PlannedTechnique(f"zero-{stage}", here, evidence))
    if isinstance(doc.get(zero), dict):
        _offload(plan, doc, zero, stage)
        _zero_plus_plus(plan, doc, zero, stage)
    _settings(plan, doc, at)
    return plan


def _stage(doc: Document, zero: KeyPath, stage_key: KeyPath) -> tuple[int | None, str]:
    """The ZeRO stage (None for "auto") and a phrase saying how it was read."""
    section = doc.get(zero)
    if isinstance(section, bool):
        stage = 1 if section else 0
        return stage, f"{dotted(zero)}: {str(section).lower()} (deprecated boolean form)"
    if section is None:
        return 0, f"no {dotted(zero)} object (ZeRO off)"
    if not isinstance(section, dict):
        raise invalid(doc, zero, f"{section!r} is not an object")
    if not doc.has(stage_key):
        return 0, f"{dotted(stage_key)} not set (DeepSpeed's default 0: ZeRO off)"
    value = doc.get(stage_key)
    if is_auto(value):
        return None, f"{dotted(stage_key)}: auto (the ZeRO stage is not known from the file)"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return value, f"{dotted(stage_key)}: {value}" + (" (ZeRO off)" if value == 0 else "")
    raise invalid(doc, stage_key, f'{value!r} is not a ZeRO stage (0, 1, 2, 3 or "auto")')


def _offload(plan: Plan, doc: Document, zero: KeyPath, stage: int | None) -> None:
    for part, setting in (
        ("offload_optimizer", "deepspeed.offload_optimizer"),
        ("offload_param", "deepspeed.offload_param"),
    ):
        section = (*zero, part)
        if doc.get(section) is None:
            continue
        if not isinstance(doc.get(section), dict):
            raise invalid(doc, section, f"{doc.get(section)!r} is not an object with a device")
        device_key = (*section, "device")
        if is_auto(doc.get(device_key)):
            continue
        device = choice(doc, device_key, ("none", "cpu", "nvme"))
        # An offload DeepSpeed ignores (ZeRO off, or stage 3 only) is not a setting of the job.
        counted = count_offload(plan, doc, device_key, stage, parameters=part == "offload_param")
        if counted or device == "none":
            record(plan, doc, setting, device_key, device)
    # Before offload_optimizer existed, ZeRO-Offload was switched on with a boolean.
    legacy_key = (*zero, "cpu_offload")
    if boolean(doc, legacy_key) and stage != 0:
        evidence = f"{dotted(legacy_key)}: true (deprecated form)"
        plan.add_technique(PlannedTechnique("zero-offload", doc.location(legacy_key), evidence))


def count_offload(
    plan: Plan, doc: Document, device_key: KeyPath, stage: int | None, *, parameters: bool
) -> bool:
    """Add the technique an offload device at `device_key` turns on at ZeRO `stage` (None: not
    known), if any, and say whether it did: cpu gives zero-offload, nvme zero-infinity. ZeRO
    off (stage 0) ignores offload; at stages 1-2 parameter offload and NVMe are not counted,
    as DeepSpeed documents them for stage 3 only, and a warning note says so."""
    device = str(doc.get(device_key)).strip().lower()
    if device not in ("cpu", "nvme") or stage == 0:
        return False
    evidence = f"{dotted(device_key)}: {doc.get(device_key)}"
    if stage in (1, 2) and (parameters or device == "nvme"):
        what = "parameter offload" if parameters else "NVMe offload"
        message = (
            f"{evidence}: DeepSpeed documents {what} for ZeRO stage 3 only, so it is not"
            f" counted at stage {stage}"
        )
        note(plan, "warning", message, doc.location(device_key))
        return False
    technique = "zero-infinity" if device == "nvme" else "zero-offload"
    plan.add_technique(PlannedTechnique(technique, doc.location(device_key), evidence))
    return True


def _zero_plus_plus(plan: Plan, doc: Document, zero: KeyPath, stage: int | None) -> None:
    found: list[tuple[KeyPath, str]] = []
    for key in (*_ZERO_PLUS_PLUS, _ZERO_PLUS_PLUS_MIXED):
        if boolean(doc, (*zero, key)):
            found.append(((*zero, key), "true"))
    partitions = integer(doc, (*zero, _HPZ), minimum=1)
    if partitions is not None and partitions > 1:
        found.append(((*zero, _HPZ), str(partitions)))
    if not found or stage == 0:
        return
    path, value = found[0]
    evidence = f"{dotted(path)}: {value}"
    if stage in (1, 2):
        message = f"{evidence}: ZeRO++ extends ZeRO stage 3, so it is not counted at stage {stage}"
        note(plan, "warning", message, doc.location(path))
        return
    plan.add_technique(PlannedTechnique("zero-plus-plus", doc.location(path), evidence))


def _settings(plan: Plan, doc: Document, at: KeyPath) -> None:
    micro = (*at, "train_micro_batch_size_per_gpu")
    record(plan, doc, "train.micro_batch", micro, integer(doc, micro, minimum=1, auto=True))
    steps = (*at, "gradient_accumulation_steps")
    accumulation = integer(doc, steps, minimum=1, auto=True)
    record(plan, doc, "train.gradient_accumulation", steps, accumulation)
    for section, precision in (("bf16", "bf16"), ("bfloat16", "bf16"), ("fp16", "fp16")):
        enabled = (*at, section, "enabled")
        if isinstance(doc.get((*at, section)), dict) and boolean(doc, enabled, auto=True):
            record(plan, doc, "precision", enabled, precision)


def deepspeed_reference(doc: Document, key: KeyPath, resolve: Resolver | None) -> Plan:
    """Techniques brought in by the DeepSpeed config that the YAML entry at `key` names.

    A path is recorded as the `deepspeed.config_file` setting and handed to `resolve`; the
    file it returns is read as DeepSpeed JSON and its findings point into it, while the
    `deepspeed` technique points at the entry. When there is no resolver or the file is
    unavailable, the stage is guessed from the file name (see `infer_from_name`): marked
    guessed, with a warning note. An inline mapping is read in place. A null, false or empty
    entry brings nothing. Raises DetectError when the referenced file is not valid JSON or
    holds an invalid value, and for an entry that is neither a path nor a mapping.
    """
    value = doc.get(key)
    here = doc.location(key)
    if isinstance(value, dict):
        return _wrapped(deepspeed_plan(doc, key), here, f"{dotted(key)}: inline config")
    if value is None or value is False or (isinstance(value, str) and not value.strip()):
        return Plan()
    if not isinstance(value, str):
        raise invalid(doc, key, f"{value!r} is neither a path to a DeepSpeed JSON nor a mapping")
    reference = value.strip()
    source = Unavailable("not read: no resolver") if resolve is None else resolve(reference)
    if isinstance(source, Unavailable):
        plan = infer_from_name(reference, here, source.reason)
    else:
        try:
            inner = detect_deepspeed(source.text, source.file)
        except DetectError as exc:
            message = f"{exc.message} (referenced from {doc.file}, line {here.line})"
            raise DetectError(exc.file, exc.line, exc.column, message) from exc
        plan = _wrapped(inner, here, f"{dotted(key)}: {reference}")
    record(plan, doc, "deepspeed.config_file", key, reference)
    return plan


def _wrapped(inner: Plan, here: Location, what: str) -> Plan:
    """`inner` with its `deepspeed` technique moved to the referencing entry."""
    plan = Plan()
    found = next(t for t in inner.techniques if t.id == "deepspeed")
    plan.add_technique(PlannedTechnique("deepspeed", here, f"{what} ({found.evidence})"))
    plan.merge(inner)
    return plan
