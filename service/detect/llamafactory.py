"""LLaMA-Factory YAML configs (`llamafactory-cli train config.yaml`), in its original keys.

Keys as LLaMA-Factory's ModelArguments and FinetuningArguments define them (`finetuning_type`
lora, oft, freeze or full, default lora; `quantization_bit` with `quantization_method`,
`quantization_type` and `double_quantization`; `lora_rank`, `lora_alpha`, `lora_target`;
`use_dora`) plus the Hugging Face TrainingArguments it passes through (`deepspeed`, `fsdp`,
`fsdp_config`, batch size and precision). Configs in the v1 schema (`peft_config`,
`quant_config`, `dist_config`) are read by `service.detect.llamafactory_v1`.
"""

from __future__ import annotations

from service.detect.deepspeed import Resolver, deepspeed_reference
from service.detect.document import Document
from service.detect.fsdp import fsdp_config, fsdp_options
from service.detect.llamafactory_v1 import llamafactory_v1_plan
from service.detect.plan import Location, Plan, PlannedModel, PlannedTechnique
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
from service.detect.yamlpos import parse_yaml

FINETUNING_TYPES = ("lora", "oft", "freeze", "full")
"""The `finetuning_type` values LLaMA-Factory accepts."""


_BNB = ("bnb", "bitsandbytes")
# The bit counts each on-the-fly method takes, as LLaMA-Factory's own otfq example lists them
# ("choices: [8 (bnb/hqq/eetq), 4 (bnb/hqq), 3 (hqq), 2 (hqq)]").
_BITS = {"bitsandbytes": (4, 8), "hqq": (2, 3, 4, 8), "eetq": (8,)}
_WHAT = {"full": "full fine-tuning", "freeze": "freeze fine-tuning: some layers, no adapter"}


def detect_llamafactory(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques and settings a LLaMA-Factory config turns on; findings point into `file`.

    `finetuning_type: lora` (also LLaMA-Factory's default when the key is absent) gives peft
    and lora; with `quantization_bit: 4` and bitsandbytes (the default method) it gives qlora
    (its lora parent is implied), while an 8-bit, hqq or eetq base stays lora. `use_dora:
    true` with LoRA gives dora; `oft` gives peft; freeze and full give nothing (an info note
    says so). `deepspeed:` gives deepspeed plus what the referenced file says (the path is
    passed to `resolve`); the Trainer's `fsdp:` options give fsdp. A config that does not set
    `do_train: true` (a predict, chat or export config) gets an info note saying it trains
    nothing. v1-schema configs are read as `service.detect.llamafactory_v1` does. Raises
    DetectError for invalid YAML, an invalid value or an unusable referenced file.
    """
    doc = parse_yaml(text, file)
    if is_v1(doc):
        return llamafactory_v1_plan(doc, resolve)
    return llamafactory_plan(doc, resolve)


V1_KEYS = ("peft_config", "quant_config", "dist_config", "kernel_config", "model_class")
"""Keys only LLaMA-Factory's v1 schema has (with `model` naming the base model)."""


def is_v1(doc: Document) -> bool:
    """Whether a parsed LLaMA-Factory config uses the v1 schema."""
    return isinstance(doc.get(("model",)), str) and any(doc.has((key,)) for key in V1_KEYS)


def llamafactory_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques of an already parsed LLaMA-Factory config in its original keys."""
    plan = Plan()
    base = string(doc, ("model_name_or_path",))
    if base is not None:
        plan.model = PlannedModel(base, doc.location(("model_name_or_path",)))
    method = _finetuning_type(doc)
    where = doc.location(("finetuning_type",))
    if not doc.has(("finetuning_type",)):
        where = Location(doc.file, None, "finetuning_type")
        evidence = "finetuning_type not set (LLaMA-Factory's default is lora)"
    else:
        evidence = f"finetuning_type: {method}"
    if method in ("lora", "oft"):
        plan.add_technique(PlannedTechnique("peft", where, evidence))
    if method == "lora":
        plan.add_technique(_quantized(plan, doc, PlannedTechnique("lora", where, evidence)))
        if doc.get(("use_dora",)) is True:
            dora = PlannedTechnique("dora", doc.location(("use_dora",)), "use_dora: true")
            plan.add_technique(dora)
        _lora_settings(plan, doc)
    elif method == "oft":
        _quantization_settings(plan, doc)
    plan.merge(deepspeed_reference(doc, ("deepspeed",), resolve))
    fsdp = fsdp_options(plan, doc, ("fsdp",))
    if fsdp is not None:
        plan.add_technique(PlannedTechnique("fsdp", doc.location(("fsdp",)), fsdp))
        fsdp_config(plan, doc, ("fsdp_config",))
    _training_settings(plan, doc)
    if doc.get(("do_train",)) is not True:
        message = (
            "do_train is not true: this config trains nothing (a predict, chat or export"
            " config); its techniques describe the model and adapter it loads"
        )
        note(plan, "info", message, doc.location(("do_train",)))
    what = f"finetuning_type: {method} ({_WHAT.get(method, 'fine-tuning')})"
    nothing_to_check(plan, doc, what, ("finetuning_type",))
    return plan


def _finetuning_type(doc: Document) -> str:
    if not doc.has(("finetuning_type",)):
        return "lora"
    method = choice(doc, ("finetuning_type",), FINETUNING_TYPES)
    if method is None:
        allowed = ", ".join(FINETUNING_TYPES)
        raise invalid(doc, ("finetuning_type",), f"empty; it must be one of {allowed}")
    return method


def _quantized(plan: Plan, doc: Document, lora: PlannedTechnique) -> PlannedTechnique:
    """`lora` turned into qlora when the base model is loaded in 4 bits by bitsandbytes."""
    bits, method = _quantization_settings(plan, doc)
    if bits is None:
        return lora
    base = f"{bits}-bit {method} base model"
    if bits == 4 and method == "bitsandbytes":
        evidence = f"{lora.evidence} with quantization_bit: 4 ({base})"
        return PlannedTechnique("qlora", doc.location(("quantization_bit",)), evidence)
    evidence = f"{lora.evidence} with quantization_bit: {bits} ({base}, not QLoRA)"
    return PlannedTechnique(lora.id, lora.location, evidence)


def _quantization_settings(plan: Plan, doc: Document) -> tuple[int | None, str]:
    """Record the on-the-fly quantization settings; returns the bits and the method."""
    bits = integer(doc, ("quantization_bit",), minimum=1)
    method = string(doc, ("quantization_method",)) or "bitsandbytes"
    method = "bitsandbytes" if method.lower() in _BNB else method.lower()
    if bits is None:
        return None, method
    if bits not in _BITS.get(method, (bits,)):
        allowed = ", ".join(str(b) for b in _BITS[method])
        raise invalid(
            doc, ("quantization_bit",), f"{method} quantizes to {allowed} bits, not {bits}"
        )
    record(plan, doc, "quant.bits", ("quantization_bit",), bits)
    where = ("quantization_method",) if doc.has(("quantization_method",)) else ("quantization_bit",)
    record(plan, doc, "quant.method", where, method)
    if bits == 4 and method == "bitsandbytes":
        kind = choice(doc, ("quantization_type",), ("nf4", "fp4"))
        record(plan, doc, "quant.type", ("quantization_type",), kind)
        double = boolean(doc, ("double_quantization",))
        record(plan, doc, "quant.double_quant", ("double_quantization",), double)
    return bits, method


def _lora_settings(plan: Plan, doc: Document) -> None:
    record(plan, doc, "lora.rank", ("lora_rank",), integer(doc, ("lora_rank",), minimum=1))
    record(plan, doc, "lora.alpha", ("lora_alpha",), whole(number(doc, ("lora_alpha",))))
    targets = names(doc, ("lora_target",))
    # LLaMA-Factory's `all` means every linear module.
    targets = ("all-linear",) if targets == ("all",) else targets
    record(plan, doc, "lora.targets", ("lora_target",), targets)


def _training_settings(plan: Plan, doc: Document) -> None:
    for key, setting in (
        ("per_device_train_batch_size", "train.micro_batch"),
        ("cutoff_len", "train.seq_len"),
        ("gradient_accumulation_steps", "train.gradient_accumulation"),
    ):
        record(plan, doc, setting, (key,), integer(doc, (key,), minimum=1))
    disabled = boolean(doc, ("disable_gradient_checkpointing",))
    if disabled is not None:
        record(
            plan,
            doc,
            "train.gradient_checkpointing",
            ("disable_gradient_checkpointing",),
            not disabled,
        )
    for key, precision in (("pure_bf16", "bf16"), ("bf16", "bf16"), ("fp16", "fp16")):
        if boolean(doc, (key,)):
            record(plan, doc, "precision", (key,), precision)
