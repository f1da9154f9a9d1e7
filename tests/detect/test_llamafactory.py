"""LLaMA-Factory configs: finetuning_type, quantization_bit, use_dora, DeepSpeed references."""

from __future__ import annotations

import pytest

from service.detect.deepspeed import Source, Unavailable
from service.detect.errors import DetectError
from service.detect.llamafactory import detect_llamafactory
from service.detect.plan import Location
from tests.detect._helpers import evidence, fixture, ids, notes, setting_at, settings, where


def test_lora_sft_example() -> None:
    plan = detect_llamafactory(fixture("llamafactory/train_lora/llama3_lora_sft.yaml"), "sft.yaml")
    assert ids(plan) == ["peft", "lora"]
    assert where(plan) == {
        "peft": ("sft.yaml", 8, "finetuning_type"),
        "lora": ("sft.yaml", 8, "finetuning_type"),
    }
    assert evidence(plan) == {"peft": "finetuning_type: lora", "lora": "finetuning_type: lora"}


def test_qlora_example_with_4_bit_bitsandbytes() -> None:
    text = fixture("llamafactory/train_qlora/llama3_lora_sft_otfq.yaml")
    plan = detect_llamafactory(text, "otfq.yaml")
    assert ids(plan) == ["peft", "qlora"]
    assert where(plan)["qlora"] == ("otfq.yaml", 3, "quantization_bit")
    assert evidence(plan)["qlora"] == (
        "finetuning_type: lora with quantization_bit: 4 (4-bit bitsandbytes base model)"
    )


def test_dora_with_zero2_offload_reference() -> None:
    text = fixture("llamafactory/train_lora/llama3_lora_sft_ds2_offload.yaml")

    def resolve(reference: str) -> Source | Unavailable:
        assert reference == "../deepspeed/ds_z2_offload_config.json"
        return Source(
            "ds_z2_offload_config.json", fixture("llamafactory/deepspeed/ds_z2_offload_config.json")
        )

    plan = detect_llamafactory(text, "ds2.yaml", resolve)
    assert ids(plan) == ["peft", "lora", "dora", "deepspeed", "zero", "zero-2", "zero-offload"]
    assert where(plan) == {
        "peft": ("ds2.yaml", 8, "finetuning_type"),
        "lora": ("ds2.yaml", 8, "finetuning_type"),
        "dora": ("ds2.yaml", 11, "use_dora"),
        "deepspeed": ("ds2.yaml", 12, "deepspeed"),
        "zero": ("ds_z2_offload_config.json", 19, "zero_optimization.stage"),
        "zero-2": ("ds_z2_offload_config.json", 19, "zero_optimization.stage"),
        "zero-offload": (
            "ds_z2_offload_config.json",
            21,
            "zero_optimization.offload_optimizer.device",
        ),
    }


def test_repo_relative_reference_that_is_missing_falls_back_to_the_name() -> None:
    text = fixture("llamafactory/train_lora/llama3_lora_sft_ds3.yaml")
    plan = detect_llamafactory(text, "ds3.yaml", lambda _: Unavailable("file not found"))
    assert ids(plan) == ["peft", "lora", "deepspeed", "zero", "zero-3"]
    assert where(plan)["zero-3"] == ("ds3.yaml", 11, "deepspeed")
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: examples/deepspeed/ds_z3_config.json"
        " (file not found; ZeRO stage 3 guessed from the file name)"
    )
    assert plan.settings["deepspeed.zero_stage"].guessed


def test_stage_zero_reference_is_deepspeed_only() -> None:
    text = "stage: sft\nfinetuning_type: full\ndeepspeed: ds_z0_config.json\n"
    ds = fixture("llamafactory/deepspeed/ds_z0_config.json")
    plan = detect_llamafactory(text, "c.yaml", lambda _: Source("ds_z0_config.json", ds))
    assert ids(plan) == ["deepspeed"]
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: ds_z0_config.json (DeepSpeed config, zero_optimization.stage: 0 (ZeRO off))"
    )


def test_absent_finetuning_type_is_llama_factorys_default_lora() -> None:
    plan = detect_llamafactory("stage: sft\nmodel_name_or_path: m\ndo_train: true\n", "c.yaml")
    assert ids(plan) == ["peft", "lora"]
    assert plan.techniques[1].location == Location("c.yaml", None, "finetuning_type")
    assert evidence(plan)["lora"] == "finetuning_type not set (LLaMA-Factory's default is lora)"
    assert plan.notes == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("finetuning_type: full\n", []),
        ("finetuning_type: freeze\n", []),
        ("finetuning_type: oft\n", ["peft"]),
        ("finetuning_type: oft\nquantization_bit: 4\n", ["peft"]),
        ("finetuning_type: full\nquantization_bit: 4\nuse_dora: true\n", []),
        # An 8-bit base is LoRA, not QLoRA.
        ("finetuning_type: lora\nquantization_bit: 8\n", ["peft", "lora"]),
        ("finetuning_type: lora\nquantization_bit: 4\n", ["peft", "qlora"]),
        (
            "finetuning_type: lora\nquantization_bit: 4\nquantization_method: bnb\n",
            ["peft", "qlora"],
        ),
        (
            "finetuning_type: lora\nquantization_bit: 4\nquantization_method: hqq\n",
            ["peft", "lora"],
        ),
        (
            "finetuning_type: lora\nquantization_bit: 4\nuse_dora: true\n",
            ["peft", "qlora", "dora"],
        ),
        (
            "finetuning_type: lora\nquantization_bit: 2\nquantization_method: hqq\n",
            ["peft", "lora"],
        ),
        ("finetuning_type: lora\nquantization_bit:\n", ["peft", "lora"]),
        ("finetuning_type: lora\nuse_dora: false\n", ["peft", "lora"]),
        ("finetuning_type: full\nfsdp: full_shard auto_wrap\n", ["fsdp"]),
        ("finetuning_type: full\nfsdp:\n  - full_shard\n  - offload\n", ["fsdp"]),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert ids(detect_llamafactory(text, "c.yaml")) == expected


def test_8_bit_and_other_methods_are_named_in_evidence() -> None:
    text = "finetuning_type: lora\nquantization_bit: 8\nquantization_method: hqq\n"
    plan = detect_llamafactory(text, "c.yaml")
    assert evidence(plan)["lora"] == (
        "finetuning_type: lora with quantization_bit: 8 (8-bit hqq base model, not QLoRA)"
    )


def test_hqq_2_bit_is_named_in_evidence() -> None:
    text = "finetuning_type: lora\nquantization_bit: 2\nquantization_method: hqq\n"
    plan = detect_llamafactory(text, "c.yaml")
    assert evidence(plan)["lora"] == (
        "finetuning_type: lora with quantization_bit: 2 (2-bit hqq base model, not QLoRA)"
    )
    assert where(plan)["lora"] == ("c.yaml", 1, "finetuning_type")


def test_settings_and_model() -> None:
    text = fixture("llamafactory/train_qlora/llama3_lora_sft_otfq.yaml")
    plan = detect_llamafactory(text, "otfq.yaml")
    assert plan.model is not None
    assert plan.model.name == "meta-llama/Meta-Llama-3-8B-Instruct"
    found = settings(plan)
    assert found["quant.bits"] == 4
    assert found["quant.method"] == "bitsandbytes"
    assert found["lora.targets"] == ("all-linear",)
    assert setting_at(plan, "quant.bits") == ("otfq.yaml", 3, "quantization_bit")


def test_more_settings() -> None:
    text = (
        "stage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 16\nlora_alpha: 32\n"
        "lora_target: q_proj, v_proj\nquantization_bit: 4\nquantization_type: fp4\n"
        "double_quantization: false\nper_device_train_batch_size: 2\ncutoff_len: 4096\n"
        "gradient_accumulation_steps: 8\ndisable_gradient_checkpointing: true\npure_bf16: true\n"
    )
    assert settings(detect_llamafactory(text, "c.yaml")) == {
        "quant.bits": 4,
        "quant.method": "bitsandbytes",
        "quant.type": "fp4",
        "quant.double_quant": False,
        "lora.rank": 16,
        "lora.alpha": 32,
        "lora.targets": ("q_proj", "v_proj"),
        "train.micro_batch": 2,
        "train.seq_len": 4096,
        "train.gradient_accumulation": 8,
        "train.gradient_checkpointing": False,
        "precision": "bf16",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stage: sft\nfinetuning_type: full\ndo_train: true\n",
            "finetuning_type: full (full fine-tuning)",
        ),
        (
            "stage: sft\nfinetuning_type: freeze\ndo_train: true\n",
            "finetuning_type: freeze (freeze fine-tuning: some layers, no adapter)",
        ),
    ],
)
def test_full_and_freeze_say_there_is_nothing_to_check(text: str, message: str) -> None:
    plan = detect_llamafactory(text, "c.yaml")
    assert plan.techniques == []
    assert notes(plan) == [("info", f"{message}: no technique to check")]


def test_a_config_that_does_not_train_says_so() -> None:
    text = "model_name_or_path: m\nadapter_name_or_path: saves/lora\ntemplate: llama3\n"
    plan = detect_llamafactory(text, "chat.yaml")
    assert ids(plan) == ["peft", "lora"]
    assert notes(plan)[0][0] == "info"
    assert notes(plan)[0][1].startswith("do_train is not true: this config trains nothing")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("finetuning_type: banana\n", 1, "'banana' is not one of lora, oft, freeze, full"),
        ("finetuning_type:\n", 1, "finetuning_type: empty"),
        ("finetuning_type: lora\nquantization_bit: '4'\n", 2, "'4' is not an integer"),
        ("finetuning_type: lora\nquantization_bit: true\n", 2, "True is not an integer"),
        ("finetuning_type: lora\nquantization_bit: 2\n", 2, "bitsandbytes quantizes to 4, 8 bits"),
        ("finetuning_type: lora\nquantization_bit: 4\nquantization_method: eetq\n", 2, "eetq"),
        ("finetuning_type: lora\nlora_rank: ${RANK}\n", 2, "is not an integer"),
        ("finetuning_type: full\nfsdp: [full_shard, sideways]\n", 2, "not an FSDP option"),
        ("finetuning_type: full\ndeepspeed: 3\n", 2, "neither a path"),
    ],
)
def test_invalid_values(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_llamafactory(text, "c.yaml")
    assert caught.value.line == line
    assert fragment in caught.value.message
