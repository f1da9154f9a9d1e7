"""Axolotl configs: adapters, 4/8-bit and GPTQ bases, DoRA, FSDP, DeepSpeed, settings."""

from __future__ import annotations

import pytest

from service.detect.axolotl import detect_axolotl
from service.detect.deepspeed import Source, Unavailable
from service.detect.errors import DetectError
from tests.detect._helpers import evidence, fixture, ids, notes, setting_at, settings, where

ZERO3 = "axolotl/deepspeed_configs/zero3_bf16.json"


def _found(reference: str) -> Source | Unavailable:
    assert reference == "deepspeed_configs/zero3_bf16.json"
    return Source("axolotl/deepspeed_configs/zero3_bf16.json", fixture(ZERO3))


def test_qlora_example_with_zero3_file() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora.yml"), "qlora.yml", _found)
    assert ids(plan) == ["peft", "qlora", "deepspeed", "zero", "zero-3"]
    assert where(plan) == {
        "peft": ("qlora.yml", 19, "adapter"),
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


def test_qlora_example_settings_and_model() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora.yml"), "qlora.yml", _found)
    assert plan.model is not None
    assert (plan.model.name, plan.model.location and plan.model.location.line) == (
        "NousResearch/Meta-Llama-3-8B",
        1,
    )
    assert settings(plan) == {
        "quant.bits": 4,
        "quant.method": "bitsandbytes",
        "lora.rank": 32,
        "lora.alpha": 16,
        "lora.targets": ("all-linear",),
        "deepspeed.zero_stage": 3,
        "deepspeed.config_file": "deepspeed_configs/zero3_bf16.json",
        "train.micro_batch": 2,
        "train.seq_len": 4096,
        "train.gradient_accumulation": 4,
        "train.gradient_checkpointing": True,
        "precision": "bf16",
    }
    assert setting_at(plan, "quant.bits") == ("qlora.yml", 9, "load_in_4bit")
    assert setting_at(plan, "lora.targets") == ("qlora.yml", 29, "lora_target_linear")
    assert setting_at(plan, "deepspeed.zero_stage") == (
        "axolotl/deepspeed_configs/zero3_bf16.json",
        3,
        "zero_optimization.stage",
    )
    # The YAML's `bf16: auto` depends on the GPU; the precision is the DeepSpeed file's.
    assert setting_at(plan, "precision") == (
        "axolotl/deepspeed_configs/zero3_bf16.json",
        15,
        "bf16.enabled",
    )
    assert plan.notes == []


def test_qlora_example_without_the_zero3_file_guesses_from_the_name() -> None:
    plan = detect_axolotl(
        fixture("axolotl/qlora.yml"), "qlora.yml", lambda _: Unavailable("file not found")
    )
    assert ids(plan) == ["peft", "qlora", "deepspeed", "zero", "zero-3"]
    assert set(where(plan).values()) == {
        ("qlora.yml", 19, "adapter"),
        ("qlora.yml", 55, "deepspeed"),
    }
    assert evidence(plan)["zero-3"] == (
        "deepspeed: deepspeed_configs/zero3_bf16.json"
        " (file not found; ZeRO stage 3 guessed from the file name)"
    )
    stage = plan.settings["deepspeed.zero_stage"]
    assert (stage.value, stage.guessed) == (3, True)
    assert notes(plan) == [
        (
            "warning",
            "deepspeed: deepspeed_configs/zero3_bf16.json was not read (file not found);"
            " ZeRO stage 3 is guessed from its file name, not read from the file",
        )
    ]


def test_without_a_resolver_the_reference_is_not_read() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora.yml"), "qlora.yml")
    assert ids(plan) == ["peft", "qlora", "deepspeed", "zero", "zero-3"]
    assert "(not read: no resolver; ZeRO stage 3 guessed from the file name)" in (
        evidence(plan)["zero-3"] or ""
    )


def test_dora_example_on_an_8bit_base_is_lora_not_qlora() -> None:
    plan = detect_axolotl(fixture("axolotl/dora.yml"), "dora.yml")
    assert ids(plan) == ["peft", "lora", "dora"]
    assert where(plan) == {
        "peft": ("dora.yml", 25, "adapter"),
        "lora": ("dora.yml", 25, "adapter"),
        "dora": ("dora.yml", 31, "peft_use_dora"),
    }
    assert evidence(plan) == {
        "peft": "adapter: lora",
        "lora": "adapter: lora with load_in_8bit: true (8-bit base model, not QLoRA)",
        "dora": "peft_use_dora: true",
    }
    assert settings(plan)["quant.bits"] == 8
    assert setting_at(plan, "quant.bits") == ("dora.yml", 5, "load_in_8bit")


def test_qlora_fsdp_example() -> None:
    plan = detect_axolotl(fixture("axolotl/qlora-fsdp-70b.yaml"), "qlora-fsdp-70b.yaml")
    assert ids(plan) == ["peft", "qlora", "fsdp"]
    assert where(plan)["fsdp"] == ("qlora-fsdp-70b.yaml", 52, "fsdp")
    assert evidence(plan)["fsdp"] == "fsdp: [full_shard, auto_wrap]"
    found = settings(plan)
    assert found["fsdp.sharding_strategy"] == "FULL_SHARD"
    assert found["fsdp.offload_params"] is True
    assert found["fsdp.use_orig_params"] is False
    assert found["fsdp.cpu_ram_efficient_loading"] is True
    assert setting_at(plan, "fsdp.offload_params") == (
        "qlora-fsdp-70b.yaml",
        58,
        "fsdp_config.fsdp_offload_params",
    )


def test_lora_with_load_in_4bit_is_qlora_at_the_4bit_key() -> None:
    text = "base_model: m\nadapter: lora\nload_in_4bit: true\n"
    plan = detect_axolotl(text, "c.yml")
    assert ids(plan) == ["peft", "qlora"]
    assert where(plan)["qlora"] == ("c.yml", 3, "load_in_4bit")
    assert evidence(plan)["qlora"] == "adapter: lora with load_in_4bit: true"


def test_4bit_wins_over_8bit() -> None:
    plan = detect_axolotl("adapter: lora\nload_in_8bit: true\nload_in_4bit: true\n", "c.yml")
    assert ids(plan) == ["peft", "qlora"]


def test_gptq_base_is_lora_not_qlora() -> None:
    plan = detect_axolotl("base_model: m-GPTQ\ngptq: true\nadapter: lora\n", "c.yml")
    assert ids(plan) == ["peft", "lora"]
    assert evidence(plan)["lora"] == (
        "adapter: lora with gptq: true (GPTQ-quantized base model, not QLoRA)"
    )
    assert settings(plan) == {"quant.method": "gptq"}


def test_bnb_config_kwargs_are_quantization_settings() -> None:
    text = (
        "adapter: qlora\nload_in_4bit: true\nbnb_config_kwargs:\n"
        "  bnb_4bit_quant_type: fp4\n  bnb_4bit_use_double_quant: false\n"
        "  bnb_4bit_quant_storage: bfloat16\n"
    )
    found = settings(detect_axolotl(text, "c.yml"))
    assert (found["quant.type"], found["quant.double_quant"], found["quant.storage_dtype"]) == (
        "fp4",
        False,
        "bfloat16",
    )


def test_qlora_without_load_in_4bit_is_flagged() -> None:
    plan = detect_axolotl("adapter: qlora\n", "c.yml")
    assert ids(plan) == ["peft", "qlora"]
    assert notes(plan) == [
        ("warning", "adapter: qlora without load_in_4bit: true (Axolotl requires it)")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adapter: lora\n", ["peft", "lora"]),
        ("adapter: LoRA\n", ["peft", "lora"]),
        ("adapter: lora\nload_in_4bit: false\n", ["peft", "lora"]),
        ("adapter: lora\nload_in_4bit: 'true'\n", ["peft", "lora"]),
        ("adapter: qlora\nload_in_4bit: false\n", ["peft", "qlora"]),
        ("adapter:\nload_in_4bit: true\n", []),
        ("base_model: m\nload_in_4bit: true\n", []),
        ("adapter: llama-adapter\n", ["peft"]),
        ("base_model: m\npeft_use_dora: true\n", []),
        ("adapter: qlora\npeft_use_dora: true\n", ["peft", "qlora", "dora"]),
        ("adapter: lora\npeft_use_dora: false\n", ["peft", "lora"]),
        ("base_model: m\nfsdp: []\nfsdp_config: {}\n", []),
        ("base_model: m\nfsdp:\nfsdp_config:\n", []),
        ("base_model: m\nfsdp_config:\n  fsdp_version: 2\n", ["fsdp"]),
        # The Trainer also takes the options as one space-separated string.
        ("base_model: m\nfsdp: full_shard auto_wrap\n", ["fsdp"]),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert ids(detect_axolotl(text, "c.yml")) == expected


def test_fsdp_config_alone_points_at_fsdp_config() -> None:
    text = "base_model: m\nfsdp: []\nfsdp_config:\n  fsdp_version: 2\n  reshard: true\n"
    plan = detect_axolotl(text, "c.yml")
    assert where(plan)["fsdp"] == ("c.yml", 3, "fsdp_config")
    assert evidence(plan)["fsdp"] == "fsdp_config: 2 settings"
    assert settings(plan)["fsdp.version"] == 2


def test_fsdp2_keys_without_the_prefix() -> None:
    text = (
        "base_model: m\nfsdp_version: 2\nfsdp_config:\n  offload_params: true\n"
        "  reshard_after_forward: false\n  cpu_ram_efficient_loading: false\n"
    )
    found = settings(detect_axolotl(text, "c.yml"))
    assert found == {
        "fsdp.version": 2,
        "fsdp.sharding_strategy": "SHARD_GRAD_OP",
        "fsdp.offload_params": True,
        "fsdp.cpu_ram_efficient_loading": False,
    }


def test_deepspeed_and_fsdp_are_both_recorded() -> None:
    text = "adapter: lora\ndeepspeed: zero1.json\nfsdp:\n  - full_shard\n"
    assert ids(detect_axolotl(text, "c.yml")) == [
        "peft",
        "lora",
        "deepspeed",
        "zero",
        "zero-1",
        "fsdp",
    ]


def test_full_fine_tune_says_there_is_nothing_to_check() -> None:
    plan = detect_axolotl("base_model: m\nmicro_batch_size: 1\nbf16: true\n", "c.yml")
    assert plan.techniques == []
    assert notes(plan) == [("info", "full fine-tuning (no adapter): no technique to check")]
    assert settings(plan) == {"train.micro_batch": 1, "precision": "bf16"}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("base_model: m\nadapter: banana\n", 2, "'banana' is not one of lora, qlora"),
        ("adapter: lora\nlora_r: ${RANK}\n", 2, "lora_r: '${RANK}' is not an integer"),
        ("base_model: m\nmicro_batch_size: 0\n", 2, "0 is below 1"),
        ("base_model: m\nfsdp: [full_shard, banana]\n", 2, "'banana' is not an FSDP option"),
        ("base_model: m\nfsdp_config:\n  fsdp_version: 3\n", 3, "not an FSDP version"),
        ("base_model: m\ngradient_checkpointing: sometimes\n", 2, "is not true or false"),
    ],
)
def test_invalid_values_are_detect_errors_with_their_line(
    text: str, line: int, fragment: str
) -> None:
    with pytest.raises(DetectError) as caught:
        detect_axolotl(text, "c.yml")
    assert caught.value.line == line
    assert fragment in caught.value.message


def test_invalid_yaml_is_a_detect_error_with_position() -> None:
    with pytest.raises(DetectError) as caught:
        detect_axolotl("base_model: m\nadapter: [lora\n", "c.yml")
    assert (caught.value.file, caught.value.line) == ("c.yml", 3)
