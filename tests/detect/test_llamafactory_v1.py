"""LLaMA-Factory's v1 schema: peft_config, quant_config and dist_config."""

from __future__ import annotations

import pytest

from service.detect.deepspeed import Source, Unavailable
from service.detect.errors import DetectError
from service.detect.llamafactory import detect_llamafactory
from tests.detect._helpers import evidence, ids, notes, settings, where

LORA = """model: Qwen/Qwen3-4B
model_class: llm
peft_config:
  name: lora
  r: 16
  lora_alpha: 32
  target_modules: all
dist_config:
  name: fsdp2
train_dataset: data/v1_sft_demo.yaml
micro_batch_size: 1
cutoff_len: 2048
"""


def test_lora_with_fsdp2() -> None:
    plan = detect_llamafactory(LORA, "v1.yaml")
    assert ids(plan) == ["peft", "lora", "fsdp"]
    assert where(plan) == {
        "peft": ("v1.yaml", 4, "peft_config.name"),
        "lora": ("v1.yaml", 4, "peft_config.name"),
        "fsdp": ("v1.yaml", 9, "dist_config.name"),
    }
    assert plan.model is not None
    assert plan.model.name == "Qwen/Qwen3-4B"
    assert settings(plan) == {
        "lora.rank": 16,
        "lora.alpha": 32,
        "lora.targets": ("all-linear",),
        "fsdp.version": 2,
        "train.micro_batch": 1,
        "train.seq_len": 2048,
    }
    assert plan.notes == []


def test_4_bit_bnb_quant_config_is_qlora() -> None:
    text = LORA + "quant_config:\n  name: bnb\n  quantization_bit: 4\n"
    plan = detect_llamafactory(text, "v1.yaml")
    assert ids(plan) == ["peft", "qlora", "fsdp"]
    assert where(plan)["qlora"] == ("v1.yaml", 15, "quant_config.quantization_bit")
    assert settings(plan)["quant.bits"] == 4


def test_8_bit_is_lora_and_bnb_without_bits_loads_4_bit() -> None:
    eight = detect_llamafactory(LORA + "quant_config:\n  name: auto\n  quantization_bit: 8\n", "c")
    assert ids(eight) == ["peft", "lora", "fsdp"]
    assert "(not QLoRA)" in (evidence(eight)["lora"] or "")
    bnb = detect_llamafactory(LORA + "quant_config:\n  name: bnb\n", "c")
    assert "qlora" in ids(bnb)
    auto = detect_llamafactory(LORA + "quant_config:\n  name: auto\n", "c")
    assert "qlora" not in ids(auto)


def test_deepspeed_dist_config_follows_its_config_file() -> None:
    text = (
        "model: m\ndist_config:\n  name: deepspeed\n  config_file: ds_z3.json\ntrain_dataset: d\n"
    )

    def resolve(reference: str) -> Source | Unavailable:
        assert reference == "ds_z3.json"
        return Source("ds_z3.json", '{"zero_optimization": {"stage": 3}}')

    plan = detect_llamafactory(text, "v1.yaml", resolve)
    assert ids(plan) == ["deepspeed", "zero", "zero-3"]
    assert where(plan)["deepspeed"] == ("v1.yaml", 3, "dist_config.name")
    assert plan.notes == [note for note in plan.notes if "full fine-tuning" in note.message]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: m\ndist_config:\n  name: fsdp2\ntrain_dataset: d\n", None),
        ("model: m\nmodel_class: llm\ntrain_dataset: d\n", "v1 config, full fine-tuning"),
        (
            "model: m\npeft_config:\n  name: freeze\ntrain_dataset: d\n",
            "v1 config, freeze fine-tuning: no adapter",
        ),
    ],
)
def test_full_and_freeze(text: str, message: str | None) -> None:
    plan = detect_llamafactory(text, "v1.yaml")
    assert "peft" not in ids(plan)
    expected = [] if message is None else [("info", f"{message}: no technique to check")]
    assert notes(plan) == expected


def test_export_config_trains_nothing() -> None:
    text = "model: Qwen/Qwen3-4B\npeft_config:\n  name: lora\n  adapter_name_or_path: out\n"
    plan = detect_llamafactory(text, "export.yaml")
    assert ids(plan) == ["peft", "lora"]
    assert notes(plan) == [
        ("info", "no train_dataset: this config trains nothing (an export or inference config)")
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("model: m\npeft_config:\n  name: banana\n", 3, "'banana' is not one of lora, freeze"),
        ("model: m\npeft_config:\n  r: 8\n", 2, "peft_config.name: missing"),
        ("model: m\nquant_config:\n  name: bnb\n  quantization_bit: 3\n", 4, "3 is not 4 or 8"),
        ("model: m\ndist_config:\n  name: horovod\n", 3, "'horovod' is not a distributed plugin"),
        ("model: m\npeft_config: lora\n", 2, "'lora' is not a mapping"),
    ],
)
def test_invalid_values(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_llamafactory(text, "v1.yaml")
    assert caught.value.line == line
    assert fragment in caught.value.message
