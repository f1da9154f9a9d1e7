"""Telling training configs apart by their keys, and everything else from them.

A YAML file is recognised by keys only one tool's configs have; a file with none of them is
not a training config (`NotAConfig`), whatever else it is (docker-compose, a GitHub workflow,
`.pre-commit-config.yaml`, mkdocs).
"""

from __future__ import annotations

from service.detect.document import Document
from service.detect.errors import DetectError, NotAConfig, understood_kinds
from service.detect.llamafactory import V1_KEYS

LLAMA_FACTORY_STAGES = frozenset({"pt", "sft", "rm", "ppo", "dpo", "kto", "orpo", "grpo"})
"""LLaMA-Factory's `stage` choices across its releases."""

_LLAMA_FACTORY_COMPANIONS = (
    "template",
    "adapter_name_or_path",
    "export_dir",
    "dataset",
    "eval_dataset",
    "infer_backend",
)
"""Keys that, next to `model_name_or_path`, only LLaMA-Factory configs have together."""

_TOOLS = {
    "axolotl": "Axolotl",
    "llama-factory": "LLaMA-Factory",
    "accelerate": "Accelerate",
    "torchtune": "torchtune",
}

MARKERS_HELP = (
    "Axolotl: adapter, base_model or datasets with type; LLaMA-Factory: finetuning_type, a"
    " training stage, model_name_or_path with template or dataset, or the v1 model with"
    " peft_config/dist_config/quant_config; Accelerate: distributed_type or"
    " compute_environment; torchtune: a model with a torchtune _component_"
)
"""The keys each YAML kind is recognised by, for messages."""


def yaml_kind(doc: Document) -> str:
    """`axolotl`, `llama-factory`, `accelerate` or `torchtune` for a parsed YAML document.

    Raises NotAConfig for an empty document, one whose top level is not a mapping, or one
    with none of the tools' keys; DetectError when keys of more than one tool are present.
    """
    if doc.value is None:
        raise NotAConfig(doc.file, None, None, "empty YAML file: not a training config")
    if not isinstance(doc.value, dict):
        shape = "a list" if isinstance(doc.value, list) else "a single value"
        message = f"YAML whose top level is {shape}, not a mapping: not a training config"
        raise NotAConfig(doc.file, None, None, message)
    found = {kind: keys for kind, keys in _markers(doc).items() if keys}
    if len(found) > 1:
        parts = [f"{_TOOLS[kind]} ({', '.join(keys)})" for kind, keys in found.items()]
        both = " and ".join(parts) if len(parts) == 2 else ", ".join(parts)
        lead = "keys of both" if len(parts) == 2 else "keys of several tools:"
        raise DetectError(doc.file, None, None, f"{lead} {both}; pass the kind explicitly")
    if not found:
        message = (
            f"YAML is not a training config of any understood kind ({MARKERS_HELP});"
            f" {understood_kinds()}"
        )
        raise NotAConfig(doc.file, None, None, message)
    return next(iter(found))


def _markers(doc: Document) -> dict[str, list[str]]:
    value = doc.value
    axolotl = [key for key in ("adapter", "base_model") if key in value]
    datasets = value.get("datasets")
    if isinstance(datasets, list) and any(isinstance(d, dict) and "type" in d for d in datasets):
        axolotl.append("datasets with type")
    llama_factory = [key for key in ("finetuning_type",) if key in value]
    stage = value.get("stage")
    if isinstance(stage, str) and stage.strip().lower() in LLAMA_FACTORY_STAGES:
        llama_factory.append(f"stage: {stage}")
    if "model_name_or_path" in value:
        companion = next((key for key in _LLAMA_FACTORY_COMPANIONS if key in value), None)
        if companion is not None:
            llama_factory.append(f"model_name_or_path with {companion}")
    v1_key = next((key for key in V1_KEYS if key in value), None)
    if isinstance(value.get("model"), str) and v1_key is not None:
        llama_factory.append(f"model with {v1_key}")
    accelerate = [key for key in ("distributed_type", "compute_environment") if key in value]
    torchtune = [
        f"{key}._component_"
        for key, item in value.items()
        if isinstance(item, dict)
        and isinstance(item.get("_component_"), str)
        and item["_component_"].startswith("torchtune.")
    ][:1]
    model = value.get("model")
    if not torchtune and isinstance(model, dict) and "_component_" in model and not axolotl:
        torchtune = ["model._component_"]
    return {
        "axolotl": axolotl,
        "llama-factory": llama_factory,
        "accelerate": accelerate,
        "torchtune": torchtune,
    }
