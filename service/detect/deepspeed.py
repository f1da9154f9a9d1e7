"""DeepSpeed configs: the JSON file itself, and `deepspeed:` references from YAML configs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from service.detect.document import Document, KeyPath, dotted
from service.detect.errors import DetectError
from service.detect.jsonpos import parse_json_object
from service.detect.plan import Location, Plan, PlannedTechnique

MARKERS = ("zero_optimization", "train_batch_size")
"""Top-level keys that mark a JSON file as a DeepSpeed config."""

_OFFLOAD_DEVICES = {"cpu", "nvme"}
# Shipped names: Axolotl's zero3_bf16.json, zero3_bf16_cpuoffload_all.json; LLaMA-Factory's
# ds_z3_config.json, ds_z2_offload_config.json, ds_z0_config.json.
_STAGE_IN_NAME = re.compile(r"(?<![a-z0-9])(?:zero|z)[-_]?([0-3])(?![0-9])")


@dataclass(frozen=True, slots=True)
class Source:
    """A referenced file as a resolver found it: the name to show in locations, and its text."""

    file: str
    text: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A referenced file that was not read, and why (the reason is quoted in evidence)."""

    reason: str


Resolver = Callable[[str], Source | Unavailable]
"""Given the path written in a `deepspeed:` entry, returns the file or why it was not read."""


def looks_like_deepspeed(value: object) -> bool:
    """Whether a parsed JSON value is a DeepSpeed config (an object with a marker key)."""
    return isinstance(value, dict) and any(marker in value for marker in MARKERS)


def detect_deepspeed(text: str, file: str) -> Plan:
    """Techniques a DeepSpeed JSON config turns on; findings point into `file`.

    Always `deepspeed`; with `zero_optimization.stage` 1-3 also `zero` and `zero-<stage>`;
    with an optimizer or parameter offload device of cpu or nvme also `zero-offload`.
    Raises DetectError for invalid JSON or a top level that is not an object.
    """
    return deepspeed_plan(parse_json_object(text, file, "a DeepSpeed config"))


def deepspeed_plan(doc: Document, at: KeyPath = ()) -> Plan:
    """Techniques of the DeepSpeed config found at key path `at` of `doc` (the root by default)."""
    plan = Plan()
    zero = (*at, "zero_optimization")
    stage_key = (*zero, "stage")
    stage, stage_note = _stage(doc, zero, stage_key)
    where = next(
        (path for path in (stage_key, zero, *((*at, m) for m in MARKERS)) if doc.has(path)), at
    )
    plan.add_technique(
        PlannedTechnique("deepspeed", doc.location(where), f"DeepSpeed config, {stage_note}")
    )
    if stage in (1, 2, 3):
        evidence = f"{dotted(stage_key)}: {stage}"
        plan.add_technique(PlannedTechnique("zero", doc.location(stage_key), evidence))
        plan.add_technique(PlannedTechnique(f"zero-{stage}", doc.location(stage_key), evidence))
    # Offload settings are ignored by DeepSpeed when ZeRO is off.
    if stage != 0:
        offload = _offload(doc, zero)
        if offload is not None:
            plan.add_technique(offload)
    return plan


def _stage(doc: Document, zero: KeyPath, stage_key: KeyPath) -> tuple[int | None, str]:
    """The ZeRO stage (None when it is not a known stage) and a phrase saying how it was read."""
    if not isinstance(doc.get(zero), dict):
        return 0, f"no {dotted(zero)} object (ZeRO off)"
    if not doc.has(stage_key):
        return 0, f"{dotted(stage_key)} not set (DeepSpeed's default 0: ZeRO off)"
    stage = doc.get(stage_key)
    if isinstance(stage, int) and not isinstance(stage, bool) and 0 <= stage <= 3:
        return stage, f"{dotted(stage_key)}: {stage}" + (" (ZeRO off)" if stage == 0 else "")
    if isinstance(stage, str) and stage.strip().lower() == "auto":
        return None, f"{dotted(stage_key)}: auto (the ZeRO stage is not known from the file)"
    return None, f"{dotted(stage_key)}: {stage!r} is not a known ZeRO stage"


def _offload(doc: Document, zero: KeyPath) -> PlannedTechnique | None:
    for part in ("offload_optimizer", "offload_param"):
        device_key = (*zero, part, "device")
        device = doc.get(device_key)
        if isinstance(device, str) and device.strip().lower() in _OFFLOAD_DEVICES:
            evidence = f"{dotted(device_key)}: {device}"
            return PlannedTechnique("zero-offload", doc.location(device_key), evidence)
    # Before offload_optimizer existed, ZeRO-Offload was switched on with a boolean.
    legacy_key = (*zero, "cpu_offload")
    if doc.get(legacy_key) is True:
        evidence = f"{dotted(legacy_key)}: true (deprecated form)"
        return PlannedTechnique("zero-offload", doc.location(legacy_key), evidence)
    return None


def deepspeed_reference(doc: Document, key: KeyPath, resolve: Resolver | None) -> Plan:
    """Techniques brought in by the `deepspeed:` entry at `key` of a YAML config.

    The `deepspeed` technique points at that entry. A path is handed to `resolve`; the file it
    returns is parsed and its other findings point into it. When there is no resolver or the
    file is unavailable, the stage and offload are inferred from the file name, and evidence
    says so. An inline mapping is read in place. A null or empty entry brings nothing.
    Raises DetectError when the referenced file is not valid DeepSpeed JSON.
    """
    value = doc.get(key)
    here = doc.location(key)
    if isinstance(value, dict):
        return _wrapped(deepspeed_plan(doc, key), here, f"{dotted(key)}: inline config")
    if not isinstance(value, str) or not value.strip():
        return Plan()
    reference = value.strip()
    source = Unavailable("not read") if resolve is None else resolve(reference)
    if isinstance(source, Unavailable):
        return infer_from_name(reference, here, source.reason)
    try:
        inner = detect_deepspeed(source.text, source.file)
    except DetectError as exc:
        note = f"{exc.message} (referenced from {doc.file}, line {here.line})"
        raise DetectError(exc.file, exc.line, exc.column, note) from exc
    return _wrapped(inner, here, f"{dotted(key)}: {reference}")


def _wrapped(inner: Plan, here: Location, what: str) -> Plan:
    """`inner` with its `deepspeed` technique moved to the referencing entry."""
    plan = Plan()
    found = next(t for t in inner.techniques if t.id == "deepspeed")
    plan.add_technique(PlannedTechnique("deepspeed", here, f"{what} ({found.evidence})"))
    plan.merge(inner)
    return plan


def infer_from_name(reference: str, here: Location, reason: str) -> Plan:
    """Techniques guessed from a DeepSpeed config's file name, all pointing at `here`.

    `zero3`, `z3`, `zero_3` in the name give the stage; `offload` gives zero-offload (unless
    the stage is 0). `reason` says why the file itself was not read.
    """
    name = PurePosixPath(reference.replace("\\", "/")).name.lower()
    match = _STAGE_IN_NAME.search(name)
    stage = None if match is None else int(match.group(1))
    prefix = f"deepspeed: {reference} ({reason}; "
    if stage is None:
        stage_note = "ZeRO stage not known"
    else:
        stage_note = f"ZeRO stage {stage}{' (ZeRO off)' if stage == 0 else ''} from the file name"
    plan = Plan()
    plan.add_technique(PlannedTechnique("deepspeed", here, prefix + stage_note + ")"))
    if stage is not None and stage > 0:
        for technique in ("zero", f"zero-{stage}"):
            plan.add_technique(PlannedTechnique(technique, here, prefix + stage_note + ")"))
    if "offload" in name and stage != 0:
        evidence = prefix + "'offload' in the file name)"
        plan.add_technique(PlannedTechnique("zero-offload", here, evidence))
    return plan
