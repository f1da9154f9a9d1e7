"""Choosing the reader for a file: by the kind the caller names, or by file name and content."""

from __future__ import annotations

from pathlib import PurePosixPath

from service.detect.axolotl import axolotl_plan
from service.detect.deepspeed import Resolver, deepspeed_plan, looks_like_deepspeed
from service.detect.document import Document
from service.detect.errors import KINDS, DetectError, understood_kinds
from service.detect.jsonpos import parse_json, parse_json_object, require_object
from service.detect.llamafactory import llamafactory_plan
from service.detect.peft import peft_plan
from service.detect.plan import Plan
from service.detect.requirements import detect_requirements, has_pins
from service.detect.yamlpos import parse_yaml

# LLaMA-Factory's `stage` choices across its releases.
_LLAMA_FACTORY_STAGES = {"pt", "sft", "rm", "ppo", "dpo", "kto", "orpo", "grpo"}


def detect_text(
    text: str, file: str, kind: str | None = None, *, resolve: Resolver | None = None
) -> Plan:
    """Techniques and pins in one file's text; `file` is the name shown in locations.

    `kind` is one of `KINDS` (axolotl, llama-factory, deepspeed, peft, requirements); when
    None it is chosen from the file name and content: `*.yml`/`*.yaml` as `detect_yaml`
    decides, `adapter_config.json` or JSON with `peft_type` as PEFT, JSON with
    `zero_optimization` or `train_batch_size` as DeepSpeed, `requirements*.txt` or a `*.txt`
    with `==` pins as requirements. `resolve` reads files named by `deepspeed:` entries.
    Raises DetectError for a file that cannot be parsed or whose kind is not understood.
    """
    if kind is None:
        return _detect_guessed(text, file, resolve)
    if kind == "axolotl":
        return axolotl_plan(parse_yaml(text, file), resolve)
    if kind == "llama-factory":
        return llamafactory_plan(parse_yaml(text, file), resolve)
    if kind == "deepspeed":
        return deepspeed_plan(parse_json_object(text, file, KINDS["deepspeed"]))
    if kind == "peft":
        return peft_plan(parse_json_object(text, file, KINDS["peft"]))
    if kind == "requirements":
        return detect_requirements(text, file)
    raise DetectError(file, None, None, f"unknown kind {kind!r}; {understood_kinds()}")


def detect_yaml(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques in an Axolotl or LLaMA-Factory YAML config, telling the two apart by keys.

    LLaMA-Factory: `finetuning_type`, or a `stage` such as sft. Axolotl: `adapter`,
    `base_model`, or a `datasets` list of mappings with `type`. Raises DetectError when the
    keys fit neither or both, or when the YAML is invalid.
    """
    doc = parse_yaml(text, file)
    if yaml_kind(doc) == "axolotl":
        return axolotl_plan(doc, resolve)
    return llamafactory_plan(doc, resolve)


def yaml_kind(doc: Document) -> str:
    """`axolotl` or `llama-factory` for a parsed YAML config, by the keys it has."""
    llama_factory = [key for key in ("finetuning_type",) if doc.has((key,))]
    stage = doc.get(("stage",))
    if isinstance(stage, str) and stage.strip().lower() in _LLAMA_FACTORY_STAGES:
        llama_factory.append(f"stage: {stage}")
    axolotl = [key for key in ("adapter", "base_model") if doc.has((key,))]
    datasets = doc.get(("datasets",))
    if isinstance(datasets, list) and any(isinstance(d, dict) and "type" in d for d in datasets):
        axolotl.append("datasets with type")
    if llama_factory and axolotl:
        message = (
            f"keys of both LLaMA-Factory ({', '.join(llama_factory)}) and Axolotl"
            f" ({', '.join(axolotl)}); pass the kind explicitly"
        )
        raise DetectError(doc.file, None, None, message)
    if axolotl:
        return "axolotl"
    if llama_factory:
        return "llama-factory"
    message = (
        "YAML is neither an Axolotl config (adapter, base_model, datasets with type) nor a"
        f" LLaMA-Factory config (finetuning_type, stage); {understood_kinds()}"
    )
    raise DetectError(doc.file, None, None, message)


def _detect_guessed(text: str, file: str, resolve: Resolver | None) -> Plan:
    name = PurePosixPath(file.replace("\\", "/")).name.lower()
    if name.endswith((".yml", ".yaml")):
        return detect_yaml(text, file, resolve)
    if name.endswith(".json"):
        doc = parse_json(text, file)
        if name == "adapter_config.json":
            return peft_plan(require_object(doc, KINDS["peft"]))
        if isinstance(doc.value, dict) and "peft_type" in doc.value:
            return peft_plan(doc)
        if looks_like_deepspeed(doc.value):
            return deepspeed_plan(doc)
        message = "JSON is neither a DeepSpeed config nor a PEFT adapter config"
        raise DetectError(file, None, None, f"{message}; {understood_kinds()}")
    if name.endswith(".txt") and (name.startswith("requirements") or has_pins(text)):
        return detect_requirements(text, file)
    raise DetectError(
        file, None, None, f"cannot tell what kind of file this is; {understood_kinds()}"
    )
