"""Axolotl configs: adapters, 4/8-bit bases, DoRA, FSDP and DeepSpeed references."""

from __future__ import annotations

import pytest

from service.detect.axolotl import detect_axolotl
from service.detect.deepspeed import Source, Unavailable
from service.detect.errors import DetectError
from tests.detect._helpers import evidence, fixture, ids, where

ZERO3 = "axolotl/deepspeed_configs/zero3_bf16.json"


def _found(reference: str) -> Source | Unavailable:
    assert reference == "deepspeed_configs/zero3_bf16.json"
    return Source("axolotl/deepspeed_configs/zero3_bf16.json", fixture(ZERO3))


def test_qlora_example_with_zero3_file() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora.yml"), "qlora.yml", _found)
    assert ids(plan) == ["qlora", "deepspeed", "zero", "zero-3"]
    assert where(plan) == {
        "qlora": ("qlora.yml", 19, "adapter"),
        "deepspeed": ("qlora.yml", 55, "deepspeed"),
        "zero": ("axolotl/deepspeed_configs/zero3_bf16.json", 3, "zero_optimization.stage"),
        "zero-3": ("axolotl/deepspeed_configs/zero3_bf16.json", 3, "zero_optimization.stage"),
    }
    assert evidence(plan)["qlora"] == "adapter: qlora"
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: deepspeed_configs/zero3_bf16.json"
        " (DeepSpeed config, zero_optimization.stage: 3)"
    )


def test_qlora_example_without_the_zero3_file_infers_from_the_name() -> None:
    plan = detect_axolotl(
        fixture("axolotl/qlora.yml"), "qlora.yml", lambda _: Unavailable("file not found")
    )
    assert ids(plan) == ["qlora", "deepspeed", "zero", "zero-3"]
    assert set(where(plan).values()) == {
        ("qlora.yml", 19, "adapter"),
        ("qlora.yml", 55, "deepspeed"),
    }
    assert evidence(plan)["zero-3"] == (
        "deepspeed: deepspeed_configs/zero3_bf16.json"
        " (file not found; ZeRO stage 3 from the file name)"
    )


def test_without_a_resolver_the_reference_is_not_read() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora.yml"), "qlora.yml")
    assert ids(plan) == ["qlora", "deepspeed", "zero", "zero-3"]
    assert "(not read; ZeRO stage 3 from the file name)" in (evidence(plan)["zero-3"] or "")


def test_dora_example_on_an_8bit_base() -> None:
    plan = detect_axolotl(fixture("axolotl/dora.yml"), "dora.yml")
    assert ids(plan) == ["lora", "dora"]
    assert where(plan) == {
        "lora": ("dora.yml", 25, "adapter"),
        "dora": ("dora.yml", 31, "peft_use_dora"),
    }
    assert evidence(plan) == {
        "lora": "adapter: lora with load_in_8bit: true (8-bit base model)",
        "dora": "peft_use_dora: true",
    }


def test_qlora_fsdp_example() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora-fsdp-70b.yaml"), "qlora-fsdp-70b.yaml")
    assert ids(plan) == ["qlora", "fsdp"]
    assert where(plan)["fsdp"] == ("qlora-fsdp-70b.yaml", 52, "fsdp")
    assert evidence(plan)["fsdp"] == "fsdp: [full_shard, auto_wrap]"


def test_lora_with_load_in_4bit_is_qlora_at_the_4bit_key() -> None:
    text = "base_model: m\nadapter: lora\nload_in_4bit: true\n"
    plan = detect_axolotl(text, "c.yml")
    assert ids(plan) == ["qlora"]
    assert where(plan)["qlora"] == ("c.yml", 3, "load_in_4bit")
    assert evidence(plan)["qlora"] == "adapter: lora with load_in_4bit: true"


def test_4bit_wins_over_8bit() -> None:
    plan = detect_axolotl("adapter: lora\nload_in_8bit: true\nload_in_4bit: true\n", "c.yml")
    assert ids(plan) == ["qlora"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adapter: lora\n", ["lora"]),
        ("adapter: LoRA\n", ["lora"]),
        ("adapter: lora\nload_in_4bit: false\n", ["lora"]),
        ("adapter: lora\nload_in_4bit: 'true'\n", ["lora"]),
        ("adapter: qlora\nload_in_4bit: false\n", ["qlora"]),
        ("adapter:\nload_in_4bit: true\n", []),
        ("base_model: m\nload_in_4bit: true\n", []),
        ("adapter: llama-adapter\n", []),
        ("base_model: m\npeft_use_dora: true\n", []),
        ("adapter: qlora\npeft_use_dora: true\n", ["qlora", "dora"]),
        ("adapter: lora\npeft_use_dora: false\n", ["lora"]),
        ("base_model: m\nfsdp: []\nfsdp_config: {}\n", []),
        ("base_model: m\nfsdp:\nfsdp_config:\n", []),
        ("base_model: m\nfsdp_config:\n  fsdp_version: 2\n", ["fsdp"]),
        ("base_model: m\nfsdp: full_shard\n", []),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert ids(detect_axolotl(text, "c.yml")) == expected


def test_fsdp_config_alone_points_at_fsdp_config() -> None:
    text = "base_model: m\nfsdp: []\nfsdp_config:\n  fsdp_version: 2\n  reshard: true\n"
    plan = detect_axolotl(text, "c.yml")
    assert where(plan)["fsdp"] == ("c.yml", 3, "fsdp_config")
    assert evidence(plan)["fsdp"] == "fsdp_config: 2 settings"


def test_deepspeed_and_fsdp_are_both_recorded() -> None:
    text = "adapter: lora\ndeepspeed: zero1.json\nfsdp:\n  - full_shard\n"
    assert ids(detect_axolotl(text, "c.yml")) == ["lora", "deepspeed", "zero", "zero-1", "fsdp"]


def test_invalid_yaml_is_a_detect_error_with_position() -> None:
    with pytest.raises(DetectError) as caught:
        detect_axolotl("base_model: m\nadapter: [lora\n", "c.yml")
    assert (caught.value.file, caught.value.line) == ("c.yml", 3)
