"""Accelerate config YAMLs: DEEPSPEED (inline or through a config file), FSDP, the rest."""

from __future__ import annotations

import pytest

from service.detect.accelerate import detect_accelerate
from service.detect.deepspeed import Source, Unavailable
from service.detect.errors import DetectError
from tests.detect._helpers import evidence, fixture, ids, notes, setting_at, settings, where


def test_trl_style_fsdp_qlora_launcher() -> None:
    plan = detect_accelerate(fixture("accelerate/fsdp_qlora.yaml"), "fsdp_qlora.yaml")
    assert ids(plan) == ["fsdp"]
    assert where(plan)["fsdp"] == ("fsdp_qlora.yaml", 5, "distributed_type")
    assert evidence(plan)["fsdp"] == "distributed_type: FSDP"
    assert settings(plan) == {
        "fsdp.sharding_strategy": "FULL_SHARD",
        "fsdp.offload_params": True,
        "fsdp.cpu_ram_efficient_loading": True,
        "fsdp.use_orig_params": False,
        "train.gpus": 8,
        "precision": "bf16",
    }
    assert setting_at(plan, "fsdp.offload_params") == (
        "fsdp_qlora.yaml",
        12,
        "fsdp_config.fsdp_offload_params",
    )
    assert plan.notes == []


def test_fsdp2_reshard_after_forward_stands_for_the_strategy() -> None:
    plan = detect_accelerate(fixture("accelerate/fsdp2.yaml"), "fsdp2.yaml")
    assert ids(plan) == ["fsdp"]
    assert settings(plan) == {
        "fsdp.version": 2,
        "fsdp.sharding_strategy": "SHARD_GRAD_OP",
        "fsdp.offload_params": False,
        "fsdp.cpu_ram_efficient_loading": True,
        "train.gradient_checkpointing": True,
        "train.gpus": 4,
        "precision": "fp32",
    }
    assert setting_at(plan, "fsdp.sharding_strategy")[2] == "fsdp_config.fsdp_reshard_after_forward"


def test_numbered_sharding_strategy_of_older_accelerate() -> None:
    plan = detect_accelerate(fixture("accelerate/fsdp_numbered_strategy.yaml"), "old.yaml")
    assert settings(plan)["fsdp.sharding_strategy"] == "SHARD_GRAD_OP"
    assert settings(plan)["precision"] == "fp16"


def test_inline_deepspeed_zero3_with_offload() -> None:
    plan = detect_accelerate(fixture("accelerate/deepspeed_zero3_offload.yaml"), "ds.yaml")
    assert ids(plan) == ["deepspeed", "zero", "zero-3", "zero-offload", "zero-infinity"]
    assert where(plan) == {
        "deepspeed": ("ds.yaml", 10, "distributed_type"),
        "zero": ("ds.yaml", 9, "deepspeed_config.zero_stage"),
        "zero-3": ("ds.yaml", 9, "deepspeed_config.zero_stage"),
        "zero-offload": ("ds.yaml", 5, "deepspeed_config.offload_optimizer_device"),
        "zero-infinity": ("ds.yaml", 6, "deepspeed_config.offload_param_device"),
    }
    assert settings(plan) == {
        "deepspeed.zero3_init_flag": True,
        "train.gradient_accumulation": 4,
        "deepspeed.zero_stage": 3,
        "deepspeed.offload_optimizer": "cpu",
        "deepspeed.offload_param": "nvme",
        "train.gpus": 8,
        "precision": "bf16",
    }


def test_deepspeed_config_file_is_followed() -> None:
    asked: list[str] = []

    def resolve(reference: str) -> Source | Unavailable:
        asked.append(reference)
        return Source(
            "accelerate/ds/zero_plus_plus.json", fixture("accelerate/ds/zero_plus_plus.json")
        )

    plan = detect_accelerate(fixture("accelerate/deepspeed_file.yaml"), "launch.yaml", resolve)
    assert asked == ["ds/zero_plus_plus.json"]
    assert ids(plan) == ["deepspeed", "zero", "zero-3", "zero-plus-plus"]
    assert where(plan)["deepspeed"] == ("launch.yaml", 6, "distributed_type")
    assert where(plan)["zero-plus-plus"] == (
        "accelerate/ds/zero_plus_plus.json",
        9,
        "zero_optimization.zero_quantized_weights",
    )
    found = settings(plan)
    assert found["deepspeed.config_file"] == "ds/zero_plus_plus.json"
    assert found["deepspeed.zero3_init_flag"] is True
    assert found["train.micro_batch"] == 2
    assert found["train.gpus"] == 16


def test_deepspeed_config_file_that_cannot_be_read_is_a_guess() -> None:
    text = (
        "distributed_type: DEEPSPEED\ndeepspeed_config:\n"
        "  deepspeed_config_file: configs/zero_stage2_offload_config.json\n"
    )
    plan = detect_accelerate(text, "a.yaml", lambda _: Unavailable("not found: looked at x"))
    assert ids(plan) == ["deepspeed", "zero", "zero-2", "zero-offload"]
    assert all("guessed" in (evidence(plan)[t] or "") for t in ("zero", "zero-2", "zero-offload"))
    assert plan.settings["deepspeed.zero_stage"].guessed
    assert notes(plan)[0][0] == "warning"
    assert "configs/zero_stage2_offload_config.json was not read" in notes(plan)[0][1]


@pytest.mark.parametrize(
    ("text", "expected_note"),
    [
        (fixture("accelerate/multi_gpu.yaml"), "distributed_type: MULTI_GPU (nothing sharded)"),
        (
            "distributed_type: 'NO'\nmixed_precision: bf16\n",
            "distributed_type: NO (single process)",
        ),
        ("distributed_type: NO\n", "distributed_type: NO (single process)"),
        ("distributed_type: MULTI_XPU\n", "distributed_type: MULTI_XPU (nothing sharded)"),
        ("compute_environment: LOCAL_MACHINE\n", "distributed_type not set (single process)"),
    ],
)
def test_types_without_sharding_have_nothing_to_check(text: str, expected_note: str) -> None:
    plan = detect_accelerate(text, "a.yaml")
    assert plan.techniques == []
    assert notes(plan) == [("info", f"{expected_note}: no technique to check")]


def test_stage_3_only_offload_at_stage_2_is_not_counted() -> None:
    text = (
        "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 2\n"
        "  offload_optimizer_device: cpu\n  offload_param_device: cpu\n"
    )
    plan = detect_accelerate(text, "a.yaml")
    assert ids(plan) == ["deepspeed", "zero", "zero-2", "zero-offload"]
    assert where(plan)["zero-offload"][2] == "deepspeed_config.offload_optimizer_device"
    assert "parameter offload for ZeRO stage 3 only" in notes(plan)[0][1]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("distributed_type: BANANA\n", 1, "'BANANA' is not one of NO, MULTI_CPU"),
        (
            "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 7\n",
            3,
            "7 is not a ZeRO stage",
        ),
        (
            "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 2\n"
            "  offload_optimizer_device: gpu\n",
            4,
            "'gpu' is not one of none, cpu, nvme",
        ),
        (
            "distributed_type: FSDP\nfsdp_config:\n  fsdp_sharding_strategy: 9\n",
            3,
            "sharding strategy",
        ),
        ("distributed_type: FSDP\nfsdp_config:\n  fsdp_version: 3\n", 3, "not an FSDP version"),
        ("distributed_type: FSDP\nmixed_precision: fp64\n", 2, "'fp64' is not one of no, fp16"),
        (fixture("accelerate/template.yaml"), 6, "num_processes: '${NUM_GPUS}' is not an integer"),
    ],
)
def test_invalid_values_are_detect_errors_with_their_line(
    text: str, line: int, fragment: str
) -> None:
    with pytest.raises(DetectError) as caught:
        detect_accelerate(text, "a.yaml")
    assert caught.value.line == line
    assert fragment in caught.value.message
