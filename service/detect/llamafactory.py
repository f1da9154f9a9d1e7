"""LLaMA-Factory YAML training configs (`llamafactory-cli train config.yaml`)."""

from __future__ import annotations

from service.detect.deepspeed import Resolver, deepspeed_reference
from service.detect.document import Document
from service.detect.plan import Location, Plan, PlannedTechnique
from service.detect.yamlpos import parse_yaml

_QLORA_BITS = (4, 8)


def detect_llamafactory(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques a LLaMA-Factory config turns on; findings point into `file`.

    `finetuning_type: lora` (also LLaMA-Factory's default when the key is absent) gives
    lora; with `quantization_bit` 4 or 8 it gives qlora alone (its lora parent is implied);
    `use_dora: true` with LoRA gives dora; `deepspeed:` gives deepspeed plus what the
    referenced file says (see `deepspeed_reference`; the path is passed to `resolve`).
    Raises DetectError for invalid YAML or an unusable referenced file.
    """
    return llamafactory_plan(parse_yaml(text, file), resolve)


def llamafactory_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques of an already parsed LLaMA-Factory config."""
    plan = Plan()
    finetuning_type = doc.get(("finetuning_type",))
    if not doc.has(("finetuning_type",)):
        lora = PlannedTechnique(
            "lora",
            Location(doc.file, None, "finetuning_type"),
            "finetuning_type not set (LLaMA-Factory's default is lora)",
        )
    elif isinstance(finetuning_type, str) and finetuning_type.strip().lower() == "lora":
        lora = PlannedTechnique("lora", doc.location(("finetuning_type",)), "finetuning_type: lora")
    else:
        lora = None
    if lora is not None:
        plan.add_technique(_quantized(doc, lora))
        if doc.get(("use_dora",)) is True:
            plan.add_technique(
                PlannedTechnique("dora", doc.location(("use_dora",)), "use_dora: true")
            )
    plan.merge(deepspeed_reference(doc, ("deepspeed",), resolve))
    return plan


def _quantized(doc: Document, lora: PlannedTechnique) -> PlannedTechnique:
    """`lora` turned into qlora when the base model is loaded in 4 or 8 bits."""
    bits = doc.get(("quantization_bit",))
    if bits is None:
        return lora
    if isinstance(bits, bool) or bits not in _QLORA_BITS:
        note = f"quantization_bit: {bits} is not 4 or 8, so not counted as QLoRA"
        return PlannedTechnique(lora.id, lora.location, f"{lora.evidence}; {note}")
    method = doc.get(("quantization_method",))
    method = method if isinstance(method, str) and method.strip() else "bitsandbytes"
    evidence = f"{lora.evidence} with quantization_bit: {bits} ({bits}-bit {method} base model)"
    return PlannedTechnique("qlora", doc.location(("quantization_bit",)), evidence)
