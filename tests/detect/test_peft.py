"""PEFT adapter_config.json files."""

from __future__ import annotations

import pytest

from service.detect.errors import DetectError
from service.detect.peft import detect_peft
from tests.detect._helpers import evidence, fixture, ids, where


def test_dora_adapter_with_quantization_hints_ignored() -> None:
    plan = detect_peft(fixture("peft/adapter_config.json"), "out/adapter_config.json")
    assert ids(plan) == ["peft", "lora", "dora"]
    assert where(plan) == {
        "peft": ("out/adapter_config.json", 18, "peft_type"),
        "lora": ("out/adapter_config.json", 18, "peft_type"),
        "dora": ("out/adapter_config.json", 36, "use_dora"),
    }
    assert evidence(plan) == {
        "peft": 'peft_type: "LORA"',
        "lora": 'peft_type: "LORA"',
        "dora": "use_dora: true",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"peft_type": "LORA", "use_dora": false}', ["peft", "lora"]),
        ('{"peft_type": "LORA"}', ["peft", "lora"]),
        ('{"peft_type": "lora"}', ["peft", "lora"]),
        ('{"peft_type": "IA3", "use_dora": true}', ["peft"]),
        ('{"peft_type": "PREFIX_TUNING"}', ["peft"]),
        ('{"peft_type": "LORA", "use_dora": "true"}', ["peft", "lora"]),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert ids(detect_peft(text, "adapter_config.json")) == expected


@pytest.mark.parametrize("text", ["{}", '{"peft_type": null}', '{"peft_type": ""}'])
def test_peft_type_is_required(text: str) -> None:
    with pytest.raises(DetectError, match="needs a peft_type"):
        detect_peft(text, "adapter_config.json")


def test_invalid_json_has_line_and_column() -> None:
    with pytest.raises(DetectError) as caught:
        detect_peft('{\n  "peft_type": "LORA"\n  "r": 8\n}', "adapter_config.json")
    assert (caught.value.line, caught.value.column) == (3, 3)


def test_settings_and_base_model() -> None:
    plan = detect_peft(fixture("peft/adapter_config.json"), "adapter_config.json")
    assert {name: s.value for name, s in plan.settings.items()} == {
        "lora.rank": 16,
        "lora.alpha": 16,
        "lora.targets": (
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ),
    }
    assert plan.model is not None
    assert (plan.model.name, plan.model.location and plan.model.location.line) == (
        "unsloth/llama-3-8b-bnb-4bit",
        4,
    )


def test_all_linear_targets() -> None:
    plan = detect_peft('{"peft_type": "LORA", "r": 8, "target_modules": "all-linear"}', "a.json")
    assert plan.settings["lora.targets"].value == ("all-linear",)


def test_invalid_rank() -> None:
    with pytest.raises(DetectError, match="r: 'eight' is not an integer"):
        detect_peft('{"peft_type": "LORA", "r": "eight"}', "adapter_config.json")
