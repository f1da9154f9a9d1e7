"""torchtune recipe configs (`tune run RECIPE --config config.yaml`).

The model is the `_component_` of the `model` mapping: torchtune's builders are named
`lora_<model>` (LoRA; `quantize_base: True` makes it QLoRA, `use_dora: True` DoRA) and
`qlora_<model>` (LoRA over an NF4-quantized base), full fine-tunes use the plain `<model>`
builder. The recipe is not a key of the config: it is given on the command line, which the
config's own header comment names (`tune run --nproc_per_node 2 lora_finetune_distributed
--config ...`), or shows through keys only torchtune's distributed recipes read
(`fsdp_cpu_offload`, `fsdp_reshard_after_forward`, ...). Distributed recipes shard the model
with FSDP2 (`fully_shard`).
"""

from __future__ import annotations

import re

from service.detect.document import Document
from service.detect.errors import DetectError
from service.detect.plan import Location, Plan, PlannedModel, PlannedSetting, PlannedTechnique
from service.detect.values import (
    boolean,
    choice,
    integer,
    names,
    note,
    nothing_to_check,
    number,
    record,
    whole,
)
from service.detect.yamlpos import parse_yaml

DISTRIBUTED_KEYS = (
    "fsdp_cpu_offload",
    "fsdp_reshard_after_forward",
    "custom_sharded_layers",
    "memory_efficient_fsdp_wrap",
    "data_parallel_shard_dim",
    "data_parallel_replicate_dim",
    "tensor_parallel_dim",
    "context_parallel_dim",
)
"""Top-level keys that only torchtune's distributed recipes read."""

# torchtune's recipes are named <what>_distributed or <what>_single_device.
_SCRIPT = re.compile(r"\bin\s+([a-z][a-z0-9_]*_(?:distributed|single_device))\.py\b")
_DTYPES = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}


def detect_torchtune(text: str, file: str, recipe: str | None = None) -> Plan:
    """Techniques and settings of a torchtune recipe config; findings point into `file`.

    `qlora_*` builders give qlora, `lora_*` builders lora (qlora with `quantize_base: True`),
    both with peft, and dora with `use_dora: True`. A distributed recipe (`recipe`, else the
    one the file's comments name, else one of `DISTRIBUTED_KEYS`) gives fsdp, version 2. A
    plain builder is a full fine-tune: an info note says so when nothing else is found.
    Raises DetectError for invalid YAML, a `model` without a `_component_`, or an invalid
    value.
    """
    return torchtune_plan(parse_yaml(text, file), text, recipe)


def torchtune_plan(doc: Document, text: str = "", recipe: str | None = None) -> Plan:
    """Techniques of an already parsed torchtune config; `text` is searched for the recipe."""
    plan = Plan()
    component = ("model", "_component_")
    builder = doc.get(component)
    if not isinstance(builder, str) or not builder.strip():
        raise DetectError(doc.file, doc.line_of(("model",)), None, "model has no _component_")
    builder = builder.strip()
    plan.model = PlannedModel(builder, doc.location(component))
    name = builder.rsplit(".", 1)[-1]
    here = doc.location(component)
    quantized = boolean(doc, ("model", "quantize_base"))
    if name.startswith(("lora_", "qlora_")):
        plan.add_technique(PlannedTechnique("peft", here, f"model: {builder}"))
        if name.startswith("qlora_") or quantized:
            evidence = f"model: {builder}" + (" with quantize_base: True" if quantized else "")
            plan.add_technique(PlannedTechnique("qlora", here, evidence))
            record(plan, doc, "quant.bits", component, 4)
            record(plan, doc, "quant.type", component, "nf4")
        else:
            plan.add_technique(PlannedTechnique("lora", here, f"model: {builder}"))
        if boolean(doc, ("model", "use_dora")):
            where = doc.location(("model", "use_dora"))
            plan.add_technique(PlannedTechnique("dora", where, "model.use_dora: True"))
        _lora_settings(plan, doc)
    _recipe(plan, doc, text, recipe)
    _training_settings(plan, doc)
    if doc.get(("optimizer",)) is None:
        message = "no optimizer: not a training recipe config (generation or evaluation)"
        note(plan, "info", message, doc.location(()))
    nothing_to_check(plan, doc, f"model: {builder} (full fine-tuning)", component)
    return plan


def named_recipe(text: str) -> tuple[str, int] | None:
    """The recipe a config's comments name, with the line naming it; None when none does.

    Reads `tune run [options] RECIPE ...` (options and their values are skipped) and
    "... in RECIPE.py", the two ways torchtune's shipped configs name their recipe.
    """
    scripts: list[tuple[str, int]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        comment = line.lstrip()
        if not comment.startswith("#"):
            continue
        tokens = comment.lstrip("#").split()
        for start in range(len(tokens) - 1):
            if tokens[start : start + 2] == ["tune", "run"]:
                recipe = _first_argument(tokens[start + 2 :])
                if recipe is not None:
                    return recipe.rsplit("/", 1)[-1], line_no
        script = _SCRIPT.search(comment)
        if script is not None:
            scripts.append((script.group(1), line_no))
    # A `tune run` line names the recipe as it is run; "in <recipe>.py" only describes it.
    return scripts[0] if scripts else None


def _first_argument(tokens: list[str]) -> str | None:
    """The first token that is neither an option nor an option's value."""
    skip_value = False
    for token in tokens:
        if token.startswith("-"):
            skip_value = "=" not in token
            continue
        if skip_value:
            skip_value = False
            continue
        return token
    return None


def _recipe(plan: Plan, doc: Document, text: str, recipe: str | None) -> None:
    location: Location | None = None
    if recipe is not None:
        why = f"recipe {recipe}"
    elif (found := named_recipe(text)) is not None:
        recipe, line = found
        why = f"recipe {recipe} (named in the comment on line {line})"
        location = Location(doc.file, line, None)
    else:
        key = next((key for key in DISTRIBUTED_KEYS if doc.has((key,))), None)
        if key is None:
            return
        recipe = "distributed"
        why = f"{key} (read only by torchtune's distributed recipes)"
        location = doc.location((key,))
    if "distributed" not in recipe:
        return
    evidence = f"{why}: distributed recipes shard with FSDP2"
    where = location or doc.location(())
    plan.add_technique(PlannedTechnique("fsdp", where, evidence))
    plan.add_setting(PlannedSetting("fsdp.version", 2, where))
    offload = boolean(doc, ("fsdp_cpu_offload",))
    record(plan, doc, "fsdp.offload_params", ("fsdp_cpu_offload",), offload)
    reshard = boolean(doc, ("fsdp_reshard_after_forward",))
    if reshard is not None:
        strategy = "FULL_SHARD" if reshard else "SHARD_GRAD_OP"
        record(plan, doc, "fsdp.sharding_strategy", ("fsdp_reshard_after_forward",), strategy)


def _lora_settings(plan: Plan, doc: Document) -> None:
    rank = ("model", "lora_rank")
    record(plan, doc, "lora.rank", rank, integer(doc, rank, minimum=1))
    alpha = ("model", "lora_alpha")
    record(plan, doc, "lora.alpha", alpha, whole(number(doc, alpha)))
    modules = names(doc, ("model", "lora_attn_modules"))
    if modules is None:
        return
    # torchtune's own names are kept; the MLP and output switches are named as written.
    extra = tuple(
        switch
        for switch in ("apply_lora_to_mlp", "apply_lora_to_output")
        if boolean(doc, ("model", switch))
    )
    record(plan, doc, "lora.targets", ("model", "lora_attn_modules"), modules + extra)


def _training_settings(plan: Plan, doc: Document) -> None:
    record(
        plan, doc, "train.micro_batch", ("batch_size",), integer(doc, ("batch_size",), minimum=1)
    )
    steps = ("gradient_accumulation_steps",)
    record(plan, doc, "train.gradient_accumulation", steps, integer(doc, steps, minimum=1))
    checkpointing = ("enable_activation_checkpointing",)
    record(plan, doc, "train.gradient_checkpointing", checkpointing, boolean(doc, checkpointing))
    seq = ("tokenizer", "max_seq_len")
    record(plan, doc, "train.seq_len", seq, integer(doc, seq, minimum=1))
    dtype = choice(doc, ("dtype",), _DTYPES)
    if dtype is not None:
        record(plan, doc, "precision", ("dtype",), _DTYPES[dtype])
