"""LLaMA-Factory configs: finetuning_type, quantization_bit, use_dora, DeepSpeed references."""

from __future__ import annotations

import pytest

from service.detect.deepspeed import Source, Unavailable
from service.detect.llamafactory import detect_llamafactory
from service.detect.plan import Location
from tests.detect._helpers import evidence, fixture, ids, where


def test_lora_sft_example() -> None:
    plan = detect_llamafactory(fixture("llamafactory/train_lora/llama3_lora_sft.yaml"), "sft.yaml")
    assert ids(plan) == ["lora"]
    assert where(plan) == {"lora": ("sft.yaml", 8, "finetuning_type")}
    assert evidence(plan) == {"lora": "finetuning_type: lora"}


def test_qlora_example_with_4_bit_bitsandbytes() -> None:
    text = fixture("llamafactory/train_qlora/llama3_lora_sft_otfq.yaml")
    plan = detect_llamafactory(text, "otfq.yaml")
    assert ids(plan) == ["qlora"]
    assert where(plan) == {"qlora": ("otfq.yaml", 3, "quantization_bit")}
    assert evidence(plan) == {
        "qlora": "finetuning_type: lora with quantization_bit: 4 (4-bit bitsandbytes base model)"
    }


def test_dora_with_zero2_offload_reference() -> None:
    text = fixture("llamafactory/train_lora/llama3_lora_sft_ds2_offload.yaml")

    def resolve(reference: str) -> Source | Unavailable:
        assert reference == "../deepspeed/ds_z2_offload_config.json"
        return Source(
            "ds_z2_offload_config.json", fixture("llamafactory/deepspeed/ds_z2_offload_config.json")
        )

    plan = detect_llamafactory(text, "ds2.yaml", resolve)
    assert ids(plan) == ["lora", "dora", "deepspeed", "zero", "zero-2", "zero-offload"]
    assert where(plan) == {
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
    assert ids(plan) == ["lora", "deepspeed", "zero", "zero-3"]
    assert where(plan)["zero-3"] == ("ds3.yaml", 11, "deepspeed")
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: examples/deepspeed/ds_z3_config.json"
        " (file not found; ZeRO stage 3 from the file name)"
    )


def test_stage_zero_reference_is_deepspeed_only() -> None:
    text = "stage: sft\nfinetuning_type: full\ndeepspeed: ds_z0_config.json\n"
    ds = fixture("llamafactory/deepspeed/ds_z0_config.json")
    plan = detect_llamafactory(text, "c.yaml", lambda _: Source("ds_z0_config.json", ds))
    assert ids(plan) == ["deepspeed"]
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: ds_z0_config.json (DeepSpeed config, zero_optimization.stage: 0 (ZeRO off))"
    )


def test_absent_finetuning_type_is_llama_factorys_default_lora() -> None:
    plan = detect_llamafactory("stage: sft\nmodel_name_or_path: m\n", "c.yaml")
    assert ids(plan) == ["lora"]
    assert plan.techniques[0].location == Location("c.yaml", None, "finetuning_type")
    assert evidence(plan)["lora"] == "finetuning_type not set (LLaMA-Factory's default is lora)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("finetuning_type: full\n", []),
        ("finetuning_type: freeze\n", []),
        ("finetuning_type: oft\n", []),
        ("finetuning_type: full\nquantization_bit: 4\nuse_dora: true\n", []),
        ("finetuning_type: lora\nquantization_bit: 8\n", ["qlora"]),
        ("finetuning_type: lora\nquantization_bit: 4\nuse_dora: true\n", ["qlora", "dora"]),
        ("finetuning_type: lora\nquantization_bit: 2\n", ["lora"]),
        ("finetuning_type: lora\nquantization_bit: '4'\n", ["lora"]),
        ("finetuning_type: lora\nquantization_bit: true\n", ["lora"]),
        ("finetuning_type: lora\nquantization_bit:\n", ["lora"]),
        ("finetuning_type: lora\nuse_dora: false\n", ["lora"]),
        ("finetuning_type:\n", []),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert ids(detect_llamafactory(text, "c.yaml")) == expected


def test_8_bit_and_other_methods_are_named_in_evidence() -> None:
    text = "finetuning_type: lora\nquantization_bit: 8\nquantization_method: hqq\n"
    plan = detect_llamafactory(text, "c.yaml")
    assert evidence(plan)["qlora"] == (
        "finetuning_type: lora with quantization_bit: 8 (8-bit hqq base model)"
    )


def test_unsupported_bit_count_is_explained() -> None:
    plan = detect_llamafactory("finetuning_type: lora\nquantization_bit: 2\n", "c.yaml")
    assert evidence(plan)["lora"] == (
        "finetuning_type: lora; quantization_bit: 2 is not 4 or 8, so not counted as QLoRA"
    )
    assert where(plan)["lora"] == ("c.yaml", 1, "finetuning_type")
