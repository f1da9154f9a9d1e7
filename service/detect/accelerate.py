"""Accelerate config YAMLs (`accelerate config` output, `accelerate launch --config_file`).

Keys as Accelerate's config file and `DistributedType` define them: `distributed_type`
DEEPSPEED with a `deepspeed_config` mapping (`zero_stage`, `offload_optimizer_device`,
`offload_param_device`, `zero3_init_flag`, or a `deepspeed_config_file` that holds the whole
DeepSpeed config instead), FSDP with an `fsdp_config` mapping, and the data-parallel or
single-device types that shard nothing.
"""

from __future__ import annotations

from service.detect.deepspeed import Resolver, count_offload, deepspeed_reference
from service.detect.document import Document, KeyPath, dotted
from service.detect.fsdp import fsdp_config
from service.detect.plan import Plan, PlannedTechnique
from service.detect.values import (
    boolean,
    choice,
    integer,
    invalid,
    note,
    nothing_to_check,
    record,
)
from service.detect.yamlpos import parse_yaml

DISTRIBUTED_TYPES = (
    "NO",
    "MULTI_CPU",
    "MULTI_GPU",
    "MULTI_NPU",
    "MULTI_MLU",
    "MULTI_SDAA",
    "MULTI_MUSA",
    "MULTI_XPU",
    "MULTI_HPU",
    "DEEPSPEED",
    "FSDP",
    "XLA",
    "TPU",
    "MEGATRON_LM",
    "TP",
)
"""Accelerate's `DistributedType` values (TPU is the deprecated name of XLA)."""

_DEVICES = ("none", "cpu", "nvme")
_PRECISIONS = {"no": "fp32", "fp16": "fp16", "bf16": "bf16", "fp8": "fp8"}


def detect_accelerate(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques and settings of an Accelerate config; findings point into `file`.

    `distributed_type: DEEPSPEED` gives deepspeed, plus zero / zero-N from
    `deepspeed_config.zero_stage`, zero-offload (cpu) or zero-infinity (nvme) from the offload
    devices, or whatever the `deepspeed_config_file` says (the path is passed to `resolve`).
    `FSDP` gives fsdp with the `fsdp_config` settings. Every other type (MULTI_GPU, NO, ...) is
    a valid config with nothing to check: an info note says so. Raises DetectError for invalid
    YAML or an invalid value (`distributed_type: BANANA`, `zero_stage: 7`).
    """
    return accelerate_plan(parse_yaml(text, file), resolve)


def accelerate_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques of an already parsed Accelerate config."""
    plan = Plan()
    kind = _distributed_type(doc)
    here = doc.location(("distributed_type",))
    evidence = "distributed_type not set" if kind is None else f"distributed_type: {kind}"
    if kind == "DEEPSPEED":
        plan.add_technique(PlannedTechnique("deepspeed", here, evidence))
        _deepspeed(plan, doc, resolve)
    elif kind == "FSDP":
        plan.add_technique(PlannedTechnique("fsdp", here, evidence))
        fsdp_config(plan, doc, ("fsdp_config",))
    gpus = integer(doc, ("num_processes",), minimum=1)
    record(plan, doc, "train.gpus", ("num_processes",), gpus)
    mixed = doc.get(("mixed_precision",))
    # An unquoted `no` is YAML's false.
    precision = "no" if mixed is False else choice(doc, ("mixed_precision",), _PRECISIONS)
    if precision is not None:
        record(plan, doc, "precision", ("mixed_precision",), _PRECISIONS[precision])
    what = "single process" if kind in ("NO", None) else "nothing sharded"
    nothing_to_check(plan, doc, f"{evidence} ({what})", ("distributed_type",))
    return plan


def _distributed_type(doc: Document) -> str | None:
    value = doc.get(("distributed_type",))
    if value is None:
        return None
    if value is False:
        # An unquoted NO is YAML's false.
        return "NO"
    if not isinstance(value, str) or value.strip().upper() not in DISTRIBUTED_TYPES:
        known = ", ".join(DISTRIBUTED_TYPES)
        raise invalid(doc, ("distributed_type",), f"{value!r} is not one of {known}")
    return value.strip().upper()


def _deepspeed(plan: Plan, doc: Document, resolve: Resolver | None) -> None:
    section: KeyPath = ("deepspeed_config",)
    if not isinstance(doc.get(section), dict):
        note(plan, "warning", "no deepspeed_config: the ZeRO stage is not known", doc.location(()))
        return
    config_file = (*section, "deepspeed_config_file")
    init_flag = (*section, "zero3_init_flag")
    record(plan, doc, "deepspeed.zero3_init_flag", init_flag, boolean(doc, init_flag))
    steps = (*section, "gradient_accumulation_steps")
    accumulation = integer(doc, steps, minimum=1, auto=True)
    record(plan, doc, "train.gradient_accumulation", steps, accumulation)
    if isinstance(doc.get(config_file), str) and doc.get(config_file).strip():
        # With a config file, Accelerate takes ZeRO settings from it, not from the YAML.
        plan.merge(deepspeed_reference(doc, config_file, resolve))
        return
    stage_key = (*section, "zero_stage")
    stage = doc.get(stage_key)
    if stage is None:
        note(plan, "warning", "deepspeed_config has no zero_stage", doc.location(section))
    elif isinstance(stage, bool) or stage not in (0, 1, 2, 3):
        raise invalid(doc, stage_key, f"{stage!r} is not a ZeRO stage (0, 1, 2 or 3)")
    else:
        record(plan, doc, "deepspeed.zero_stage", stage_key, stage)
        if stage > 0:
            evidence = f"{dotted(stage_key)}: {stage}"
            for technique in ("zero", f"zero-{stage}"):
                plan.add_technique(PlannedTechnique(technique, doc.location(stage_key), evidence))
    for part, setting in (("optimizer", "offload_optimizer"), ("param", "offload_param")):
        device_key = (*section, f"offload_{part}_device")
        device = choice(doc, device_key, _DEVICES)
        counted = isinstance(stage, int) and count_offload(
            plan, doc, device_key, stage, parameters=part == "param"
        )
        # An offload DeepSpeed ignores (ZeRO off, or stage 3 only) is not a setting of the job.
        if counted or device == "none":
            record(plan, doc, f"deepspeed.{setting}", device_key, device)
