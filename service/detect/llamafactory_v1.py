"""LLaMA-Factory's v1 config schema: `model`, `peft_config`, `quant_config`, `dist_config`.

Names as LLaMA-Factory's v1 plugins register them: PEFT plugins `lora` and `freeze`, the
quantization plugins `bnb` and `auto` (which uses bitsandbytes), and the distributed plugins
`fsdp2` and `deepspeed` (whose `config_file` is a DeepSpeed JSON).
"""

from __future__ import annotations

from service.detect.deepspeed import Resolver, deepspeed_reference
from service.detect.document import Document, KeyPath
from service.detect.plan import Plan, PlannedModel, PlannedTechnique
from service.detect.values import (
    boolean,
    choice,
    integer,
    invalid,
    names,
    note,
    nothing_to_check,
    number,
    record,
    string,
    whole,
)

PEFT_PLUGINS = ("lora", "freeze")
QUANT_PLUGINS = ("bnb", "auto")


def llamafactory_v1_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques and settings of a parsed v1-schema LLaMA-Factory config.

    `peft_config.name: lora` gives peft and lora, qlora with a 4-bit `quant_config`;
    `freeze` (or no `peft_config`: a full fine-tune) gives no adapter. `dist_config.name:
    fsdp2` gives fsdp (FSDP2), `deepspeed` gives deepspeed plus what its `config_file` says.
    A config without `train_dataset` (an export config) gets an info note saying it trains
    nothing. Raises DetectError for a plugin name LLaMA-Factory does not register.
    """
    plan = Plan()
    plan.model = PlannedModel(str(doc.get(("model",))).strip(), doc.location(("model",)))
    peft = _section(doc, ("peft_config",))
    method = "full" if peft is None else choice(doc, (*peft, "name"), PEFT_PLUGINS)
    if peft is not None and method is None:
        raise invalid(doc, (*peft, "name"), f"missing; it must be one of {', '.join(PEFT_PLUGINS)}")
    bits = _quantization(plan, doc)
    if method == "lora" and peft is not None:
        here = doc.location((*peft, "name"))
        plan.add_technique(PlannedTechnique("peft", here, "peft_config.name: lora"))
        if bits == 4:
            evidence = "peft_config.name: lora with quant_config.quantization_bit: 4 (bitsandbytes)"
            quant = doc.location(("quant_config", "quantization_bit"))
            plan.add_technique(PlannedTechnique("qlora", quant, evidence))
        else:
            evidence = "peft_config.name: lora"
            if bits is not None:
                evidence += f" with quant_config.quantization_bit: {bits} (not QLoRA)"
            plan.add_technique(PlannedTechnique("lora", here, evidence))
        record(plan, doc, "lora.rank", (*peft, "r"), integer(doc, (*peft, "r"), minimum=1))
        alpha = whole(number(doc, (*peft, "lora_alpha")))
        record(plan, doc, "lora.alpha", (*peft, "lora_alpha"), alpha)
        targets = names(doc, (*peft, "target_modules"))
        targets = ("all-linear",) if targets == ("all",) else targets
        record(plan, doc, "lora.targets", (*peft, "target_modules"), targets)
    _distributed(plan, doc, resolve)
    for key, setting in (
        ("micro_batch_size", "train.micro_batch"),
        ("cutoff_len", "train.seq_len"),
    ):
        record(plan, doc, setting, (key,), integer(doc, (key,), minimum=1))
    if doc.get(("train_dataset",)) is None:
        message = "no train_dataset: this config trains nothing (an export or inference config)"
        note(plan, "info", message, doc.location(()))
    what = "full fine-tuning" if method == "full" else "freeze fine-tuning: no adapter"
    nothing_to_check(plan, doc, f"v1 config, {what}", (*peft, "name") if peft else ())
    return plan


def _section(doc: Document, path: KeyPath) -> KeyPath | None:
    """`path` when it holds a mapping, None when absent or null; DetectError otherwise."""
    value = doc.get(path)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(doc, path, f"{value!r} is not a mapping")
    return path


def _quantization(plan: Plan, doc: Document) -> int | None:
    quant = _section(doc, ("quant_config",))
    if quant is None:
        return None
    name = choice(doc, (*quant, "name"), QUANT_PLUGINS) or "bnb"
    bits = integer(doc, (*quant, "quantization_bit"), minimum=1)
    if bits is None and name == "auto":
        # The auto plugin quantizes nothing without a bit count.
        return None
    if bits is None:
        # The bnb plugin's own default, as its log line says.
        bits = 4
        message = "quant_config.name: bnb without quantization_bit: bitsandbytes loads 4-bit"
        note(plan, "info", message, doc.location(quant))
    if bits not in (4, 8):
        raise invalid(doc, (*quant, "quantization_bit"), f"{bits} is not 4 or 8 (bitsandbytes)")
    where = (*quant, "quantization_bit")
    record(plan, doc, "quant.bits", where, bits)
    record(plan, doc, "quant.method", where, "bitsandbytes")
    if bits == 4:
        kind = (*quant, "quantization_type")
        record(plan, doc, "quant.type", kind, choice(doc, kind, ("nf4", "fp4")))
        double = (*quant, "double_quantization")
        record(plan, doc, "quant.double_quant", double, boolean(doc, double))
    return bits


def _distributed(plan: Plan, doc: Document, resolve: Resolver | None) -> None:
    dist = _section(doc, ("dist_config",))
    if dist is None:
        return
    name = string(doc, (*dist, "name"))
    here = doc.location((*dist, "name"))
    if name is not None and "fsdp" in name.lower():
        plan.add_technique(PlannedTechnique("fsdp", here, f"dist_config.name: {name}"))
        if name.lower() == "fsdp2":
            record(plan, doc, "fsdp.version", (*dist, "name"), 2)
    elif name is not None and name.lower() == "deepspeed":
        plan.add_technique(PlannedTechnique("deepspeed", here, "dist_config.name: deepspeed"))
        plan.merge(deepspeed_reference(doc, (*dist, "config_file"), resolve))
    else:
        raise invalid(
            doc, (*dist, "name"), f"{name!r} is not a distributed plugin (fsdp2, deepspeed)"
        )
