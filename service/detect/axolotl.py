"""Axolotl YAML training configs (`axolotl train config.yml`).

Keys as Axolotl's config schema defines them: `adapter` (lora, qlora or llama-adapter; absent
for a full fine-tune), `load_in_4bit` / `load_in_8bit` / `gptq` for the base model,
`bnb_config_kwargs`, the `lora_*` settings, `peft_use_dora`, `deepspeed`, `fsdp` (the
Trainer's option list), `fsdp_config` and `fsdp_version`.
"""

from __future__ import annotations

from service.detect.deepspeed import Resolver, deepspeed_reference
from service.detect.document import Document
from service.detect.fsdp import fsdp_config, fsdp_options, fsdp_version
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
from service.detect.yamlpos import parse_yaml

ADAPTERS = ("lora", "qlora", "llama-adapter")
"""The `adapter` values Axolotl's adapter loader accepts."""

_PRECISION_KEYS = (
    ("bf16", "bf16"),
    ("bfloat16", "bf16"),
    ("fp16", "fp16"),
    ("float16", "fp16"),
    ("fp8", "fp8"),
    ("float32", "fp32"),
)


def detect_axolotl(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques and settings an Axolotl config turns on; findings point into `file`.

    Every adapter gives peft. `adapter: lora` gives lora; `adapter: qlora`, or lora with
    `load_in_4bit: true`, gives qlora (its lora parent is implied); an 8-bit or GPTQ base
    stays lora (not QLoRA), with the base named in the evidence. `llama-adapter` is peft only.
    `peft_use_dora: true` with a LoRA adapter gives dora; a non-empty `fsdp` option list or
    `fsdp_config` mapping gives fsdp; `deepspeed:` gives deepspeed plus what the referenced
    file says (the path is passed to `resolve`). A config without an adapter is a full
    fine-tune: an info note says there is nothing to check unless DeepSpeed or FSDP is on.
    Raises DetectError for invalid YAML, an unknown adapter, an invalid value, or an
    unusable referenced file.
    """
    return axolotl_plan(parse_yaml(text, file), resolve)


def axolotl_plan(doc: Document, resolve: Resolver | None = None) -> Plan:
    """Techniques of an already parsed Axolotl config."""
    plan = Plan()
    base = string(doc, ("base_model",))
    if base is not None:
        plan.model = PlannedModel(base, doc.location(("base_model",)))
    adapter = choice(doc, ("adapter",), ADAPTERS)
    if adapter is not None:
        plan.add_technique(
            PlannedTechnique("peft", doc.location(("adapter",)), f"adapter: {adapter}")
        )
    if adapter in ("lora", "qlora"):
        plan.add_technique(_lora(plan, doc, adapter))
        _lora_settings(plan, doc)
        if doc.get(("peft_use_dora",)) is True:
            dora = PlannedTechnique("dora", doc.location(("peft_use_dora",)), "peft_use_dora: true")
            plan.add_technique(dora)
    plan.merge(deepspeed_reference(doc, ("deepspeed",), resolve))
    _fsdp(plan, doc)
    _training_settings(plan, doc)
    nothing_to_check(plan, doc, "full fine-tuning (no adapter)")
    return plan


def _lora(plan: Plan, doc: Document, adapter: str) -> PlannedTechnique:
    """The technique of a LoRA adapter, which the base model's load precision refines."""
    four_bit = doc.get(("load_in_4bit",)) is True
    if adapter == "qlora" or four_bit:
        where = ("load_in_4bit",) if four_bit else ("adapter",)
        record(plan, doc, "quant.bits", where, 4)
        record(plan, doc, "quant.method", where, "bitsandbytes")
        _bnb_settings(plan, doc)
        if adapter == "qlora":
            if not four_bit:
                message = "adapter: qlora without load_in_4bit: true (Axolotl requires it)"
                note(plan, "warning", message, doc.location(("adapter",)))
            return PlannedTechnique("qlora", doc.location(("adapter",)), "adapter: qlora")
        # LoRA over a 4-bit bitsandbytes base is QLoRA, however the adapter is spelled.
        evidence = "adapter: lora with load_in_4bit: true"
        return PlannedTechnique("qlora", doc.location(("load_in_4bit",)), evidence)
    evidence = "adapter: lora"
    if doc.get(("load_in_8bit",)) is True:
        record(plan, doc, "quant.bits", ("load_in_8bit",), 8)
        record(plan, doc, "quant.method", ("load_in_8bit",), "bitsandbytes")
        evidence += " with load_in_8bit: true (8-bit base model, not QLoRA)"
    elif doc.get(("gptq",)) is True:
        record(plan, doc, "quant.method", ("gptq",), "gptq")
        evidence += " with gptq: true (GPTQ-quantized base model, not QLoRA)"
    elif isinstance(doc.get(("peft", "loftq_config")), dict):
        evidence += " with peft.loftq_config (LoftQ initialization, not QLoRA)"
    return PlannedTechnique("lora", doc.location(("adapter",)), evidence)


def _bnb_settings(plan: Plan, doc: Document) -> None:
    kwargs = ("bnb_config_kwargs",)
    if doc.get(kwargs) is None:
        return
    if not isinstance(doc.get(kwargs), dict):
        raise invalid(doc, kwargs, f"{doc.get(kwargs)!r} is not a mapping")
    kind = (*kwargs, "bnb_4bit_quant_type")
    record(plan, doc, "quant.type", kind, choice(doc, kind, ("nf4", "fp4")))
    double = (*kwargs, "bnb_4bit_use_double_quant")
    record(plan, doc, "quant.double_quant", double, boolean(doc, double))
    storage = (*kwargs, "bnb_4bit_quant_storage")
    record(plan, doc, "quant.storage_dtype", storage, string(doc, storage))


def _lora_settings(plan: Plan, doc: Document) -> None:
    record(plan, doc, "lora.rank", ("lora_r",), integer(doc, ("lora_r",), minimum=1))
    record(plan, doc, "lora.alpha", ("lora_alpha",), whole(number(doc, ("lora_alpha",))))
    if boolean(doc, ("lora_target_linear",)):
        record(plan, doc, "lora.targets", ("lora_target_linear",), ("all-linear",))
    record(
        plan, doc, "lora.targets", ("lora_target_modules",), names(doc, ("lora_target_modules",))
    )


def _fsdp(plan: Plan, doc: Document) -> None:
    evidence = fsdp_options(plan, doc, ("fsdp",))
    config = doc.get(("fsdp_config",))
    if evidence is not None:
        plan.add_technique(PlannedTechnique("fsdp", doc.location(("fsdp",)), evidence))
    elif isinstance(config, dict) and config:
        evidence = f"fsdp_config: {len(config)} settings"
        plan.add_technique(PlannedTechnique("fsdp", doc.location(("fsdp_config",)), evidence))
    elif config not in (None, {}):
        raise invalid(doc, ("fsdp_config",), f"{config!r} is not a mapping")
    if any(t.id == "fsdp" for t in plan.techniques):
        record(plan, doc, "fsdp.version", ("fsdp_version",), fsdp_version(doc, ("fsdp_version",)))
        fsdp_config(plan, doc, ("fsdp_config",))


def _training_settings(plan: Plan, doc: Document) -> None:
    for key, setting in (
        ("micro_batch_size", "train.micro_batch"),
        ("sequence_len", "train.seq_len"),
        ("gradient_accumulation_steps", "train.gradient_accumulation"),
    ):
        record(plan, doc, setting, (key,), integer(doc, (key,), minimum=1))
    checkpointing = doc.get(("gradient_checkpointing",))
    # Axolotl also accepts "unsloth" and "offload", which checkpoint too.
    on = checkpointing in ("unsloth", "offload") or boolean(doc, ("gradient_checkpointing",))
    if checkpointing is not None:
        record(plan, doc, "train.gradient_checkpointing", ("gradient_checkpointing",), bool(on))
    for key, precision in _PRECISION_KEYS:
        if boolean(doc, (key,), auto=True):
            record(plan, doc, "precision", (key,), precision)
