"""Choosing the reader: YAML kinds by their keys, detect_text's kinds, and NotAConfig."""

from __future__ import annotations

import pickle

import pytest

from service.detect import KINDS, DetectError, NotAConfig, detect_text, detect_yaml
from service.detect.deepspeed import Resolver, Source, Unavailable
from tests.detect._helpers import fixture, ids, where


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("axolotl/qlora.yml", ["peft", "qlora", "deepspeed", "zero", "zero-3"]),
        ("axolotl/dora.yml", ["peft", "lora", "dora"]),
        ("axolotl/qlora-fsdp-70b.yaml", ["peft", "qlora", "fsdp"]),
        ("llamafactory/train_lora/llama3_lora_sft.yaml", ["peft", "lora"]),
        ("llamafactory/train_qlora/llama3_lora_sft_otfq.yaml", ["peft", "qlora"]),
        (
            "llamafactory/train_lora/llama3_lora_sft_ds3.yaml",
            ["peft", "lora", "deepspeed", "zero", "zero-3"],
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
    plan = detect_yaml(text + "load_in_4bit: true\nadapter: lora\n", "c.yml")
    assert ids(plan) == ["peft", "qlora"]


@pytest.mark.parametrize(
    "text",
    [
        "finetuning_type: lora\n",
        "stage: sft\n",
        "stage: dpo\n",
        "stage: KTO\n",
        "model_name_or_path: m\ntemplate: llama3\n",
        "model_name_or_path: m\ndataset: alpaca_en_demo\n",
    ],
)
def test_llama_factory_markers(text: str) -> None:
    plan = detect_yaml(text + "quantization_bit: 4\n", "c.yaml")
    assert ids(plan) == ["peft", "qlora"]


def test_llama_factory_v1_marker() -> None:
    text = "model: Qwen/Qwen3-4B\npeft_config:\n  name: lora\ndist_config:\n  name: fsdp2\n"
    assert ids(detect_yaml(text, "v1.yaml")) == ["peft", "lora", "fsdp"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("distributed_type: FSDP\n", ["fsdp"]),
        ("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\n", []),
        (
            "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 2\n",
            ["deepspeed", "zero", "zero-2"],
        ),
    ],
)
def test_accelerate_markers(text: str, expected: list[str]) -> None:
    assert ids(detect_yaml(text, "accelerate.yaml")) == expected


def test_torchtune_marker() -> None:
    text = "model:\n  _component_: torchtune.models.llama3_1.qlora_llama3_1_8b\n"
    assert ids(detect_yaml(text, "8B_qlora.yaml")) == ["peft", "qlora"]


def test_both_kinds_of_marker_is_ambiguous() -> None:
    with pytest.raises(DetectError, match="keys of both") as caught:
        detect_yaml("base_model: m\nfinetuning_type: lora\n", "c.yaml")
    assert not isinstance(caught.value, NotAConfig)
    assert "Axolotl (base_model)" in caught.value.message
    assert "LLaMA-Factory (finetuning_type)" in caught.value.message


def test_three_kinds_of_marker_is_ambiguous() -> None:
    with pytest.raises(DetectError, match="keys of several tools") as caught:
        detect_yaml("base_model: m\nfinetuning_type: lora\ndistributed_type: FSDP\n", "c.yaml")
    assert "Accelerate (distributed_type)" in caught.value.message


NOT_CONFIGS = [
    # docker-compose
    "services:\n  api:\n    image: python:3.11\n    ports: ['8000:8000']\n",
    # a GitHub workflow
    "name: CI\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    "    steps:\n      - uses: actions/checkout@v4\n",
    # .pre-commit-config.yaml
    "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.0\n"
    "    hooks:\n      - id: ruff\n",
    # mkdocs.yml
    "site_name: docs\nnav:\n  - Home: index.md\n",
    # Axolotl's cloud launcher config
    "project_name:\ngpu: h100\ngpu_count: 1\nvolumes:\n  - name: data\n",
    "stage: warmup\n",
    "datasets:\n  - path: x\n",
    "dataset: alpaca_en_demo\n",
    "model: gpt-4o\ntemperature: 0.2\n",
]


@pytest.mark.parametrize("text", NOT_CONFIGS)
def test_yaml_of_no_tool_is_not_a_config(text: str) -> None:
    with pytest.raises(NotAConfig) as caught:
        detect_yaml(text, "other.yaml")
    error = caught.value
    assert (error.file, error.line, error.column) == ("other.yaml", None, None)
    assert "not a training config of any understood kind" in error.message
    assert all(kind in error.message for kind in KINDS)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty YAML file"),
        ("# only a comment\n", "empty YAML file"),
        ("- id: ftmatrix-check\n  entry: ftmatrix check\n", "top level is a list"),
        ("just words\n", "top level is a single value"),
    ],
)
def test_yaml_that_is_no_mapping_is_not_a_config(text: str, fragment: str) -> None:
    with pytest.raises(NotAConfig, match=fragment):
        detect_text(text, ".pre-commit-hooks.yaml")


def test_invalid_yaml_is_an_error_not_a_skip() -> None:
    with pytest.raises(DetectError) as caught:
        detect_text("services:\n  api: [\n", "docker-compose.yml")
    assert not isinstance(caught.value, NotAConfig)
    assert caught.value.line == 3


def test_not_a_config_survives_pickling() -> None:
    # The pickle is made here from our own object, so loading it is safe.
    error = pickle.loads(pickle.dumps(NotAConfig("c.yml", None, None, "not a config")))  # noqa: S301
    assert isinstance(error, NotAConfig)
    assert str(error) == "c.yml: not a config"


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
    assert "peft" in detect_text("peft==0.11.1\n", "requirements.in").libraries
    freeze = detect_text(fixture("pip/requirements-freeze.txt"), "env/frozen.txt")
    assert "torch" in freeze.libraries
    assert detect_text("# nothing pinned yet\n", "requirements.txt").libraries == {}
    project = '[project]\nname = "x"\ndependencies = ["torch==2.4.0"]\n'
    assert detect_text(project, "pyproject.toml").libraries["torch"].version == "2.4.0"


def test_detect_text_follows_references_through_the_resolver() -> None:
    def resolve(reference: str) -> Source | Unavailable:
        return Source("ds.json", '{\n"zero_optimization": {\n"stage": 1\n}\n}')

    plan = detect_text("base_model: m\ndeepspeed: x.json\n", "c.yaml", resolve=resolve)
    assert where(plan)["zero-1"] == ("ds.json", 3, "zero_optimization.stage")


def test_requirements_includes_use_include_else_resolve() -> None:
    asked: list[tuple[str, str]] = []

    def by(name: str) -> Resolver:
        def resolve(reference: str) -> Source | Unavailable:
            asked.append((name, reference))
            return Source(reference, "peft==0.11.1\n")

        return resolve

    text = "-r base.txt\n"
    detect_text(text, "requirements.txt", resolve=by("resolve"), include=by("include"))
    detect_text(text, "requirements.txt", resolve=by("resolve"))
    assert asked == [("include", "base.txt"), ("resolve", "base.txt")]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("axolotl", "adapter: qlora\n", ["peft", "qlora"]),
        ("llama-factory", "finetuning_type: lora\n", ["peft", "lora"]),
        ("llama-factory", "model: m\npeft_config:\n  name: lora\n", ["peft", "lora"]),
        ("accelerate", "distributed_type: FSDP\n", ["fsdp"]),
        (
            "torchtune",
            "model:\n  _component_: torchtune.models.llama2.lora_llama2_7b\n",
            ["peft", "lora"],
        ),
        ("deepspeed", '{"zero_optimization": {"stage": 2}}', ["deepspeed", "zero", "zero-2"]),
        ("deepspeed", '{"fp16": {}}', ["deepspeed"]),
        ("peft", '{"peft_type": "LORA"}', ["peft", "lora"]),
        ("requirements", "torch==2.3.0\n", []),
        ("pyproject", '[project]\ndependencies = ["torch==2.3.0"]\n', []),
    ],
)
def test_explicit_kind_ignores_the_file_name(kind: str, text: str, expected: list[str]) -> None:
    assert ids(detect_text(text, "upload.bin", kind)) == expected


def test_explicit_kind_overrides_ambiguity() -> None:
    assert ids(
        detect_text("base_model: m\nfinetuning_type: lora\n", "c.yaml", "llama-factory")
    ) == ["peft", "lora"]


def test_explicit_yaml_kind_still_needs_a_mapping() -> None:
    with pytest.raises(DetectError, match="expected a mapping of config keys") as caught:
        detect_text("- a\n", "c.yaml", "axolotl")
    assert not isinstance(caught.value, NotAConfig)


def test_unknown_kind_names_the_understood_ones() -> None:
    with pytest.raises(DetectError, match="unknown kind 'banana'; understood kinds: axolotl"):
        detect_text("", "c.yaml", "banana")


@pytest.mark.parametrize(
    ("file", "text", "fragment"),
    [
        ("notes.md", "# hi\n", "cannot tell what kind of file this is"),
        ("Dockerfile", "FROM python\n", "cannot tell what kind of file this is"),
        ("notes.txt", "just words\nnumpy>=1\n", "cannot tell what kind of file this is"),
        ("ruff.toml", "line-length = 100\n", "cannot tell what kind of file this is"),
        ("tokenizer.json", '{"version": "1.0"}', "neither a DeepSpeed config nor a PEFT"),
        ("list.json", "[1, 2]", "neither a DeepSpeed config nor a PEFT"),
        ("package.json", '{"name": "x", "scripts": {"test": "jest"}}', "neither a DeepSpeed"),
        ("pyproject.toml", "[tool.ruff]\nline-length = 100\n", "without a [project] table"),
    ],
)
def test_unknown_files_are_not_configs(file: str, text: str, fragment: str) -> None:
    with pytest.raises(NotAConfig) as caught:
        detect_text(text, file)
    assert fragment in caught.value.message
    assert caught.value.line is None


def test_adapter_config_that_is_not_an_object() -> None:
    with pytest.raises(DetectError, match="expected a JSON object for PEFT") as caught:
        detect_text("[]", "adapter_config.json")
    assert not isinstance(caught.value, NotAConfig)
