"""Choosing the reader: detect_yaml's Axolotl/LLaMA-Factory split and detect_text's kinds."""

from __future__ import annotations

import pytest

from service.detect import KINDS, DetectError, detect_text, detect_yaml
from service.detect.deepspeed import Source, Unavailable
from tests.detect._helpers import fixture, ids, where


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("axolotl/qlora.yml", ["qlora", "deepspeed", "zero", "zero-3"]),
        ("axolotl/dora.yml", ["lora", "dora"]),
        ("axolotl/qlora-fsdp-70b.yaml", ["qlora", "fsdp"]),
        ("llamafactory/train_lora/llama3_lora_sft.yaml", ["lora"]),
        ("llamafactory/train_qlora/llama3_lora_sft_otfq.yaml", ["qlora"]),
        (
            "llamafactory/train_lora/llama3_lora_sft_ds3.yaml",
            ["lora", "deepspeed", "zero", "zero-3"],
        ),
    ],
)
def test_detect_yaml_tells_the_tools_apart(relative: str, expected: list[str]) -> None:
    assert ids(detect_yaml(fixture(relative), relative)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "datasets:\n  - path: x\n    type: alpaca\n",
        "base_model: m\n",
        "adapter: lora\n",
    ],
)
def test_axolotl_markers(text: str) -> None:
    assert ids(detect_yaml(text + "load_in_4bit: true\nadapter: lora\n", "c.yml")) == ["qlora"]


@pytest.mark.parametrize(
    "text", ["finetuning_type: lora\n", "stage: sft\n", "stage: dpo\n", "stage: KTO\n"]
)
def test_llama_factory_markers(text: str) -> None:
    plan = detect_yaml(text + "quantization_bit: 4\n", "c.yaml")
    assert ids(plan) == ["qlora"]


def test_both_kinds_of_marker_is_ambiguous() -> None:
    with pytest.raises(DetectError, match="keys of both LLaMA-Factory") as caught:
        detect_yaml("base_model: m\nfinetuning_type: lora\n", "c.yaml")
    assert "(finetuning_type)" in caught.value.message
    assert "(base_model)" in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\n",
        "stage: warmup\n",
        "datasets:\n  - path: x\n",
        "dataset: alpaca_en_demo\n",
    ],
)
def test_yaml_of_neither_tool_lists_the_understood_kinds(text: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_yaml(text, "accelerate.yaml")
    error = caught.value
    assert (error.file, error.line, error.column) == ("accelerate.yaml", None, None)
    assert "neither an Axolotl config" in error.message
    assert all(kind in error.message for kind in KINDS)


def test_detect_text_by_name_and_content() -> None:
    assert ids(detect_text(fixture("peft/adapter_config.json"), "adapter_config.json")) == [
        "peft",
        "lora",
        "dora",
    ]
    renamed = detect_text(fixture("peft/adapter_config.json"), "my_adapter.json")
    assert ids(renamed) == ["peft", "lora", "dora"]
    ds = detect_text(fixture("llamafactory/deepspeed/ds_z2_offload_config.json"), "DS.JSON")
    assert ids(ds) == ["deepspeed", "zero", "zero-2", "zero-offload"]
    # train_batch_size alone is enough to mark a DeepSpeed config.
    assert ids(detect_text('{"train_batch_size": 8}', "x.json")) == ["deepspeed"]
    reqs = detect_text("torch==2.3.0\n", "requirements-gpu.txt")
    assert reqs.libraries["torch"].version == "2.3.0"
    freeze = detect_text(fixture("pip/requirements-freeze.txt"), "env/frozen.txt")
    assert "torch" in freeze.libraries
    assert detect_text("# nothing pinned yet\n", "requirements.txt").libraries == {}


def test_detect_text_follows_references_through_the_resolver() -> None:
    def resolve(reference: str) -> Source | Unavailable:
        return Source("ds.json", '{\n"zero_optimization": {\n"stage": 1\n}\n}')

    plan = detect_text("base_model: m\ndeepspeed: x.json\n", "c.yaml", resolve=resolve)
    assert where(plan)["zero-1"] == ("ds.json", 3, "zero_optimization.stage")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("axolotl", "adapter: qlora\n", ["qlora"]),
        ("llama-factory", "finetuning_type: lora\n", ["lora"]),
        ("deepspeed", '{"zero_optimization": {"stage": 2}}', ["deepspeed", "zero", "zero-2"]),
        ("deepspeed", '{"fp16": {}}', ["deepspeed"]),
        ("peft", '{"peft_type": "LORA"}', ["peft", "lora"]),
        ("requirements", "torch==2.3.0\n", []),
    ],
)
def test_explicit_kind_ignores_the_file_name(kind: str, text: str, expected: list[str]) -> None:
    assert ids(detect_text(text, "upload.bin", kind)) == expected


def test_explicit_kind_overrides_ambiguity() -> None:
    assert ids(
        detect_text("base_model: m\nfinetuning_type: lora\n", "c.yaml", "llama-factory")
    ) == ["lora"]


def test_unknown_kind_names_the_understood_ones() -> None:
    with pytest.raises(DetectError, match="unknown kind 'accelerate'; understood kinds: axolotl"):
        detect_text("", "c.yaml", "accelerate")


@pytest.mark.parametrize(
    ("file", "text", "fragment"),
    [
        ("notes.md", "# hi\n", "cannot tell what kind of file this is"),
        ("Dockerfile", "FROM python\n", "cannot tell what kind of file this is"),
        ("notes.txt", "just words\nnumpy>=1\n", "cannot tell what kind of file this is"),
        ("tokenizer.json", '{"version": "1.0"}', "neither a DeepSpeed config nor a PEFT"),
        ("list.json", "[1, 2]", "neither a DeepSpeed config nor a PEFT"),
    ],
)
def test_unknown_files_list_the_understood_kinds(file: str, text: str, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_text(text, file)
    assert fragment in caught.value.message
    assert "understood kinds:" in caught.value.message
    assert caught.value.line is None


def test_adapter_config_that_is_not_an_object() -> None:
    with pytest.raises(DetectError, match="expected a JSON object for PEFT"):
        detect_text("[]", "adapter_config.json")
