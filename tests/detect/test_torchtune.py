"""torchtune recipe configs: LoRA/QLoRA builders, DoRA, distributed recipes (FSDP2)."""

from __future__ import annotations

import pytest

from service.detect.errors import DetectError
from service.detect.torchtune import detect_torchtune, named_recipe
from tests.detect._helpers import evidence, fixture, ids, notes, settings, where


def test_lora_distributed_recipe_shards_with_fsdp2() -> None:
    plan = detect_torchtune(fixture("torchtune/8B_lora.yaml"), "8B_lora.yaml")
    assert ids(plan) == ["peft", "lora", "fsdp"]
    assert where(plan) == {
        "peft": ("8B_lora.yaml", 11, "model._component_"),
        "lora": ("8B_lora.yaml", 11, "model._component_"),
        "fsdp": ("8B_lora.yaml", 5, None),
    }
    assert evidence(plan)["fsdp"] == (
        "recipe lora_finetune_distributed (named in the comment on line 5):"
        " distributed recipes shard with FSDP2"
    )
    assert plan.model is not None
    assert plan.model.name == "torchtune.models.llama3_1.lora_llama3_1_8b"
    assert settings(plan) == {
        "lora.rank": 8,
        "lora.alpha": 16,
        "lora.targets": ("q_proj", "v_proj", "output_proj", "apply_lora_to_mlp"),
        "fsdp.version": 2,
        "train.micro_batch": 2,
        "train.gradient_accumulation": 8,
        "train.gradient_checkpointing": False,
        "train.seq_len": 4096,
        "precision": "bf16",
    }
    assert plan.notes == []


def test_qlora_builder_on_a_single_device() -> None:
    plan = detect_torchtune(fixture("torchtune/8B_qlora_single_device.yaml"), "q.yaml")
    assert ids(plan) == ["peft", "qlora"]
    found = settings(plan)
    assert (found["quant.bits"], found["quant.type"]) == (4, "nf4")
    assert "train.seq_len" not in found


def test_full_distributed_recipe_with_cpu_offload() -> None:
    plan = detect_torchtune(fixture("torchtune/70B_full.yaml"), "70B_full.yaml")
    assert ids(plan) == ["fsdp"]
    found = settings(plan)
    assert found["fsdp.offload_params"] is True
    assert found["fsdp.version"] == 2


def test_distributed_keys_reveal_the_recipe_without_a_comment() -> None:
    plan = detect_torchtune(fixture("torchtune/full_no_comment.yaml"), "c.yaml")
    assert ids(plan) == ["fsdp"]
    assert where(plan)["fsdp"] == ("c.yaml", 7, "fsdp_reshard_after_forward")
    assert settings(plan)["fsdp.sharding_strategy"] == "FULL_SHARD"


def test_dora_and_qdora() -> None:
    dora = detect_torchtune(fixture("torchtune/8B_dora.yaml"), "8B_dora.yaml")
    assert ids(dora) == ["peft", "lora", "dora", "fsdp"]
    qdora = detect_torchtune(fixture("torchtune/8B_qdora_single_device.yaml"), "qdora.yaml")
    assert ids(qdora) == ["peft", "qlora", "dora"]
    assert evidence(qdora)["qlora"] == (
        "model: torchtune.models.llama3.lora_llama3_8b with quantize_base: True"
    )


def test_recipe_given_by_the_caller_wins() -> None:
    text = fixture("torchtune/8B_qlora_single_device.yaml")
    plan = detect_torchtune(text, "q.yaml", recipe="lora_finetune_distributed")
    assert ids(plan) == ["peft", "qlora", "fsdp"]
    assert evidence(plan)["fsdp"] == (
        "recipe lora_finetune_distributed: distributed recipes shard with FSDP2"
    )


def test_generation_config_is_not_training() -> None:
    plan = detect_torchtune(fixture("torchtune/generation.yaml"), "generation.yaml")
    assert plan.techniques == []
    assert notes(plan) == [
        ("info", "no optimizer: not a training recipe config (generation or evaluation)"),
        (
            "info",
            "model: torchtune.models.llama2.llama2_7b (full fine-tuning): no technique to check",
        ),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# tune run --nproc_per_node 8 full_finetune_distributed --config x\n",
            ("full_finetune_distributed", 1),
        ),
        (
            "a: 1\n#   tune run lora_finetune_single_device --config x\n",
            ("lora_finetune_single_device", 2),
        ),
        ("# Config for multi-device QAT in qat_distributed.py\n", ("qat_distributed", 1)),
        (
            "# see in utils.py\n# tune run --nproc_per_node 2 lora_dpo_distributed --config x\n",
            ("lora_dpo_distributed", 2),
        ),
        (
            "# in full_finetune_single_device.py\n#   tune run full_finetune_distributed\n",
            ("full_finetune_distributed", 2),
        ),
        ("#   tune download meta-llama/Llama-2-7b --output-dir /tmp\n", None),
        ("tune run not_a_comment --config x\n", None),
    ],
)
def test_named_recipe(text: str, expected: tuple[str, int] | None) -> None:
    assert named_recipe(text) == expected


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("model:\n  lora_rank: 8\n", 1, "model has no _component_"),
        (
            "model:\n  _component_: torchtune.models.llama3.lora_llama3_8b\n  lora_rank: eight\n",
            3,
            "'eight' is not an integer",
        ),
        ("model:\n  _component_: torchtune.models.llama3.llama3_8b\ndtype: fp64\n", 3, "fp64"),
    ],
)
def test_invalid_values(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_torchtune(text, "c.yaml")
    assert caught.value.line == line
    assert fragment in caught.value.message
