"""PEFT adapter configs (`adapter_config.json`, written by `save_pretrained`)."""

from __future__ import annotations

from service.detect.document import Document
from service.detect.errors import DetectError
from service.detect.jsonpos import parse_json_object
from service.detect.plan import Plan, PlannedModel, PlannedTechnique
from service.detect.values import integer, names, number, record, string, whole


def detect_peft(text: str, file: str) -> Plan:
    """Techniques a PEFT adapter_config.json records; findings point into `file`.

    `peft` for any adapter; `lora` when `peft_type` is LORA; `dora` when it also has
    `use_dora: true`. Base-model quantization is not recorded by PEFT, so fields that hint at
    it (`quantization_config`, a `-bnb-4bit` base model name) are ignored. The settings are
    the LoRA rank (`r`), `lora_alpha` and `target_modules`; the model is
    `base_model_name_or_path`. Raises DetectError for invalid JSON, a file without
    `peft_type`, or an invalid value.
    """
    return peft_plan(parse_json_object(text, file, "a PEFT adapter config"))


def peft_plan(doc: Document) -> Plan:
    """Techniques of an already parsed PEFT adapter config."""
    peft_type = doc.get(("peft_type",))
    if not isinstance(peft_type, str) or not peft_type.strip():
        raise DetectError(
            doc.file, doc.line_of(("peft_type",)), None, "a PEFT adapter config needs a peft_type"
        )
    plan = Plan()
    here = doc.location(("peft_type",))
    evidence = f'peft_type: "{peft_type}"'
    plan.add_technique(PlannedTechnique("peft", here, evidence))
    if peft_type.strip().upper() == "LORA":
        plan.add_technique(PlannedTechnique("lora", here, evidence))
        if doc.get(("use_dora",)) is True:
            dora = PlannedTechnique("dora", doc.location(("use_dora",)), "use_dora: true")
            plan.add_technique(dora)
        record(plan, doc, "lora.rank", ("r",), integer(doc, ("r",), minimum=1))
        record(plan, doc, "lora.alpha", ("lora_alpha",), whole(number(doc, ("lora_alpha",))))
        targets = names(doc, ("target_modules",))
        record(plan, doc, "lora.targets", ("target_modules",), targets)
    base = string(doc, ("base_model_name_or_path",))
    if base is not None:
        plan.model = PlannedModel(base, doc.location(("base_model_name_or_path",)))
    return plan
