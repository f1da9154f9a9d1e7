"""Axolotl YAML training configs."""

from __future__ import annotations

from service.detect.deepspeed import Resolver, deepspeed_reference
from service.detect.document import Document
from service.detect.plan import Plan, PlannedTechnique
from service.detect.yamlpos import parse_yaml


def detect_axolotl(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques an Axolotl config turns on; findings point into `file`.

    `adapter: lora` gives lora; `adapter: qlora`, or lora with `load_in_4bit: true`, gives
    qlora alone (its lora parent is implied); `peft_use_dora: true` with an adapter gives
    dora; a non-empty `fsdp` list or `fsdp_config` mapping gives fsdp; `deepspeed:` gives
    deepspeed plus what the referenced file says (see `deepspeed_reference`; the path is
    passed to `resolve`). Raises DetectError for invalid YAML or an unusable referenced file.
    """
    return axolotl_plan(parse_yaml(text, file), resolve)


def axolotl_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques of an already parsed Axolotl config."""
    plan = Plan()
    adapter = doc.get(("adapter",))
    kind = adapter.strip().lower() if isinstance(adapter, str) else None
    if kind == "qlora":
        plan.add_technique(PlannedTechnique("qlora", doc.location(("adapter",)), "adapter: qlora"))
    elif kind == "lora":
        plan.add_technique(_lora(doc))
    if kind in ("lora", "qlora") and doc.get(("peft_use_dora",)) is True:
        dora = PlannedTechnique("dora", doc.location(("peft_use_dora",)), "peft_use_dora: true")
        plan.add_technique(dora)
    plan.merge(deepspeed_reference(doc, ("deepspeed",), resolve))
    fsdp = doc.get(("fsdp",))
    fsdp_config = doc.get(("fsdp_config",))
    if isinstance(fsdp, list) and fsdp:
        evidence = f"fsdp: [{', '.join(str(item) for item in fsdp)}]"
        plan.add_technique(PlannedTechnique("fsdp", doc.location(("fsdp",)), evidence))
    elif isinstance(fsdp_config, dict) and fsdp_config:
        evidence = f"fsdp_config: {len(fsdp_config)} settings"
        plan.add_technique(PlannedTechnique("fsdp", doc.location(("fsdp_config",)), evidence))
    return plan


def _lora(doc: Document) -> PlannedTechnique:
    """The technique of `adapter: lora`, which the base model's load precision refines."""
    if doc.get(("load_in_4bit",)) is True:
        # LoRA over a 4-bit bitsandbytes base is QLoRA, however the adapter is spelled.
        evidence = "adapter: lora with load_in_4bit: true"
        return PlannedTechnique("qlora", doc.location(("load_in_4bit",)), evidence)
    evidence = "adapter: lora"
    if doc.get(("load_in_8bit",)) is True:
        evidence += " with load_in_8bit: true (8-bit base model)"
    return PlannedTechnique("lora", doc.location(("adapter",)), evidence)
