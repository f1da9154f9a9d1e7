"""DeepSpeed JSON configs: stages, offload, "auto", and stages inferred from file names."""

from __future__ import annotations

import json

import pytest

from service.detect.deepspeed import (
    Source,
    Unavailable,
    deepspeed_reference,
    detect_deepspeed,
    infer_from_name,
    looks_like_deepspeed,
)
from service.detect.errors import DetectError
from service.detect.plan import Location
from service.detect.yamlpos import parse_yaml
from tests.detect._helpers import evidence, fixture, ids, setting_at, settings, where

AXOLOTL_Z3 = "axolotl/deepspeed_configs/zero3_bf16.json"
LF_Z2_OFFLOAD = "llamafactory/deepspeed/ds_z2_offload_config.json"
LF_Z0 = "llamafactory/deepspeed/ds_z0_config.json"


def test_axolotl_zero3_bf16() -> None:
    plan = detect_deepspeed(fixture(AXOLOTL_Z3), "zero3_bf16.json")
    assert ids(plan) == ["deepspeed", "zero", "zero-3"]
    stage = ("zero3_bf16.json", 3, "zero_optimization.stage")
    assert where(plan) == {"deepspeed": stage, "zero": stage, "zero-3": stage}
    assert evidence(plan) == {
        "deepspeed": "DeepSpeed config, zero_optimization.stage: 3",
        "zero": "zero_optimization.stage: 3",
        "zero-3": "zero_optimization.stage: 3",
    }


def test_llama_factory_zero2_with_optimizer_offload_to_cpu() -> None:
    plan = detect_deepspeed(fixture(LF_Z2_OFFLOAD), "ds_z2_offload_config.json")
    assert ids(plan) == ["deepspeed", "zero", "zero-2", "zero-offload"]
    assert where(plan)["zero-2"] == ("ds_z2_offload_config.json", 19, "zero_optimization.stage")
    assert where(plan)["zero-offload"] == (
        "ds_z2_offload_config.json",
        21,
        "zero_optimization.offload_optimizer.device",
    )
    assert evidence(plan)["zero-offload"] == "zero_optimization.offload_optimizer.device: cpu"


def test_llama_factory_stage_zero_is_deepspeed_without_zero() -> None:
    plan = detect_deepspeed(fixture(LF_Z0), "ds_z0_config.json")
    assert ids(plan) == ["deepspeed"]
    assert where(plan)["deepspeed"] == ("ds_z0_config.json", 19, "zero_optimization.stage")
    assert evidence(plan)["deepspeed"] == "DeepSpeed config, zero_optimization.stage: 0 (ZeRO off)"


def test_stage_auto_records_deepspeed_only_and_says_so() -> None:
    text = '{\n  "train_batch_size": "auto",\n  "zero_optimization": {\n    "stage": "auto"\n  }\n}'
    plan = detect_deepspeed(text, "ds.json")
    assert ids(plan) == ["deepspeed"]
    assert where(plan)["deepspeed"] == ("ds.json", 4, "zero_optimization.stage")
    assert evidence(plan)["deepspeed"] == (
        "DeepSpeed config, zero_optimization.stage: auto"
        " (the ZeRO stage is not known from the file)"
    )


@pytest.mark.parametrize("stage", ["4", "7", "-1", "true", '"3"', "null", "2.5", '"three"'])
def test_invalid_stage_values_are_detect_errors_with_their_line(stage: str) -> None:
    text = '{\n  "zero_optimization": {\n    "stage": ' + stage + "\n  }\n}"
    with pytest.raises(DetectError, match="is not a ZeRO stage") as caught:
        detect_deepspeed(text, "ds.json")
    assert (caught.value.file, caught.value.line) == ("ds.json", 3)
    assert "zero_optimization.stage: " in caught.value.message


def test_missing_stage_is_deepspeeds_default_zero() -> None:
    text = '{\n"zero_optimization": {\n "offload_optimizer": {"device": "cpu"}\n}\n}'
    plan = detect_deepspeed(text, "ds.json")
    assert ids(plan) == ["deepspeed"]
    assert where(plan)["deepspeed"] == ("ds.json", 2, "zero_optimization")
    assert "not set (DeepSpeed's default 0: ZeRO off)" in (evidence(plan)["deepspeed"] or "")


def test_no_zero_optimization_points_at_the_marker_key() -> None:
    plan = detect_deepspeed('{\n"fp16": {"enabled": true},\n"train_batch_size": 32\n}', "ds.json")
    assert ids(plan) == ["deepspeed"]
    assert where(plan)["deepspeed"] == ("ds.json", 3, "train_batch_size")
    assert evidence(plan)["deepspeed"] == "DeepSpeed config, no zero_optimization object (ZeRO off)"


def test_object_without_markers_points_at_the_top() -> None:
    plan = detect_deepspeed('\n{"fp16": {"enabled": true}}', "ds.json")
    assert where(plan)["deepspeed"] == ("ds.json", 2, None)


@pytest.mark.parametrize(
    ("zero", "offload_key"),
    [
        ('{"stage": 3, "offload_param": {"device": "CPU"}}', "offload_param.device"),
        ('{"stage": 2, "offload_optimizer": {"device": "cpu"}}', "offload_optimizer.device"),
        ('{"stage": "auto", "offload_optimizer": {"device": "cpu"}}', "offload_optimizer.device"),
        ('{"stage": 2, "cpu_offload": true}', "cpu_offload"),
    ],
)
def test_offload_devices(zero: str, offload_key: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + zero + "}", "ds.json")
    assert "zero-offload" in ids(plan)
    assert where(plan)["zero-offload"] == ("ds.json", 1, f"zero_optimization.{offload_key}")


@pytest.mark.parametrize(
    "zero",
    [
        '{"stage": 3, "offload_param": {"device": "none"},'
        ' "offload_optimizer": {"device": "none"}}',
        '{"stage": 3, "offload_param": {"pin_memory": true}}',
        '{"stage": 2, "cpu_offload": false}',
        '{"stage": 0, "offload_optimizer": {"device": "cpu"}}',
        '{"offload_optimizer": {"device": "cpu"}}',
        '{"stage": 3, "offload_param": {"device": "nvme"}}',
    ],
)
def test_no_offload(zero: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + zero + "}", "ds.json")
    assert "zero-offload" not in ids(plan)


def test_offload_optimizer_and_param_both_set_records_one_offload() -> None:
    text = (
        '{"zero_optimization": {\n"stage": 3,\n"offload_optimizer": {"device": "cpu"},\n'
        '"offload_param": {"device": "cpu"}}}'
    )
    plan = detect_deepspeed(text, "ds.json")
    assert ids(plan) == ["deepspeed", "zero", "zero-3", "zero-offload"]
    assert where(plan)["zero-offload"][1] == 3


def test_invalid_json_and_non_objects() -> None:
    with pytest.raises(DetectError) as caught:
        detect_deepspeed('{\n  "zero_optimization": {"stage": 3,}\n}', "ds.json")
    assert (caught.value.line, caught.value.column) == (2, 36)
    with pytest.raises(DetectError, match="expected a JSON object"):
        detect_deepspeed("[]", "ds.json")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deepspeed_configs/zero3_bf16.json", ["deepspeed", "zero", "zero-3"]),
        ("deepspeed_configs/zero1.json", ["deepspeed", "zero", "zero-1"]),
        ("deepspeed_configs/zero2.json", ["deepspeed", "zero", "zero-2"]),
        (
            "deepspeed_configs/zero3_bf16_cpuoffload_all.json",
            ["deepspeed", "zero", "zero-3", "zero-offload"],
        ),
        ("examples/deepspeed/ds_z3_config.json", ["deepspeed", "zero", "zero-3"]),
        (
            "examples/deepspeed/ds_z2_offload_config.json",
            ["deepspeed", "zero", "zero-2", "zero-offload"],
        ),
        ("examples/deepspeed/ds_z0_config.json", ["deepspeed"]),
        ("C:\\configs\\Zero-2.json", ["deepspeed", "zero", "zero-2"]),
        ("zero_3.json", ["deepspeed", "zero", "zero-3"]),
        ("my_ds_config.json", ["deepspeed"]),
        ("zero30.json", ["deepspeed"]),
        ("fuzz3.json", ["deepspeed"]),
        ("ds_offload.json", ["deepspeed", "zero-offload"]),
        ("ds_z0_offload.json", ["deepspeed"]),
        ("zero3/ds.json", ["deepspeed"]),
    ],
)
def test_stage_inferred_from_file_name(name: str, expected: list[str]) -> None:
    here = Location("train.yml", 7, "deepspeed")
    plan = infer_from_name(name, here, "file not found")
    assert ids(plan) == expected
    assert all(technique.location == here for technique in plan.techniques)
    assert all("file not found" in (technique.evidence or "") for technique in plan.techniques)


def test_inferred_evidence_says_where_the_stage_came_from() -> None:
    plan = infer_from_name("deepspeed_configs/zero3_bf16.json", Location("c.yml"), "not read")
    assert evidence(plan)["zero-3"] == (
        "deepspeed: deepspeed_configs/zero3_bf16.json"
        " (not read; ZeRO stage 3 guessed from the file name)"
    )
    plan = infer_from_name("custom.json", Location("c.yml"), "file not found")
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: custom.json (file not found; ZeRO stage not known)"
    )


def test_reference_reads_the_resolved_file_and_points_into_it() -> None:
    doc = parse_yaml("base_model: m\ndeepspeed: ds/zero3_bf16.json\n", "c.yml")
    asked: list[str] = []

    def resolve(reference: str) -> Source | Unavailable:
        asked.append(reference)
        return Source("cfg/ds/zero3_bf16.json", fixture(AXOLOTL_Z3))

    plan = deepspeed_reference(doc, ("deepspeed",), resolve)
    assert asked == ["ds/zero3_bf16.json"]
    assert ids(plan) == ["deepspeed", "zero", "zero-3"]
    assert where(plan) == {
        "deepspeed": ("c.yml", 2, "deepspeed"),
        "zero": ("cfg/ds/zero3_bf16.json", 3, "zero_optimization.stage"),
        "zero-3": ("cfg/ds/zero3_bf16.json", 3, "zero_optimization.stage"),
    }
    assert evidence(plan)["deepspeed"] == (
        "deepspeed: ds/zero3_bf16.json (DeepSpeed config, zero_optimization.stage: 3)"
    )


def test_reference_to_broken_json_names_both_files() -> None:
    doc = parse_yaml("deepspeed: ds.json\n", "c.yml")
    with pytest.raises(DetectError) as caught:
        deepspeed_reference(
            doc, ("deepspeed",), lambda _: Source("cfg/ds.json", "{\n  stage: 3\n}")
        )
    error = caught.value
    assert (error.file, error.line, error.column) == ("cfg/ds.json", 2, 3)
    assert error.message.endswith("(referenced from c.yml, line 1)")


def test_unavailable_reference_falls_back_to_the_name() -> None:
    doc = parse_yaml("a: 1\ndeepspeed: zero2.json\n", "c.yml")
    plan = deepspeed_reference(doc, ("deepspeed",), lambda _: Unavailable("file not found"))
    assert ids(plan) == ["deepspeed", "zero", "zero-2"]
    assert where(plan)["zero-2"] == ("c.yml", 2, "deepspeed")


def test_inline_mapping_is_read_in_place() -> None:
    text = (
        "deepspeed:\n  zero_optimization:\n    stage: 2\n"
        "    offload_optimizer:\n      device: cpu\n"
    )
    plan = deepspeed_reference(parse_yaml(text, "c.yml"), ("deepspeed",), None)
    assert ids(plan) == ["deepspeed", "zero", "zero-2", "zero-offload"]
    assert where(plan) == {
        "deepspeed": ("c.yml", 1, "deepspeed"),
        "zero": ("c.yml", 3, "deepspeed.zero_optimization.stage"),
        "zero-2": ("c.yml", 3, "deepspeed.zero_optimization.stage"),
        "zero-offload": ("c.yml", 5, "deepspeed.zero_optimization.offload_optimizer.device"),
    }


@pytest.mark.parametrize(
    "entry", ["deepspeed:\n", "deepspeed: ''\n", "deepspeed: false\n", "a: 1\n"]
)
def test_empty_or_absent_reference_brings_nothing(entry: str) -> None:
    def resolve(reference: str) -> Source | Unavailable:
        raise AssertionError(f"resolver called for {reference!r}")

    plan = deepspeed_reference(parse_yaml(entry, "c.yml"), ("deepspeed",), resolve)
    assert plan.techniques == []


@pytest.mark.parametrize(
    ("zero", "expected", "key"),
    [
        (
            '{"stage": 3, "offload_param": {"device": "nvme"}}',
            ["deepspeed", "zero", "zero-3", "zero-infinity"],
            "offload_param.device",
        ),
        (
            '{"stage": 3, "offload_optimizer": {"device": "nvme"},'
            ' "offload_param": {"device": "cpu"}}',
            ["deepspeed", "zero", "zero-3", "zero-infinity", "zero-offload"],
            "offload_optimizer.device",
        ),
    ],
)
def test_nvme_offload_is_zero_infinity(zero: str, expected: list[str], key: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + zero + "}", "ds.json")
    assert ids(plan) == expected
    assert where(plan)["zero-infinity"] == ("ds.json", 1, f"zero_optimization.{key}")


@pytest.mark.parametrize(
    ("zero", "what"),
    [
        ('{"stage": 2, "offload_param": {"device": "cpu"}}', "parameter offload"),
        ('{"stage": 1, "offload_optimizer": {"device": "nvme"}}', "NVMe offload"),
    ],
)
def test_stage_3_only_offload_is_not_counted_below_stage_3(zero: str, what: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + zero + "}", "ds.json")
    assert not {"zero-offload", "zero-infinity"} & set(ids(plan))
    # DeepSpeed ignores it, so it is no setting of the job either.
    assert not {"deepspeed.offload_param", "deepspeed.offload_optimizer"} & set(plan.settings)
    assert len(plan.notes) == 1
    assert plan.notes[0].severity == "warning"
    assert f"DeepSpeed documents {what} for ZeRO stage 3 only" in plan.notes[0].message


@pytest.mark.parametrize(
    ("switch", "evidence_text"),
    [
        ('"zero_quantized_weights": true', "zero_optimization.zero_quantized_weights: true"),
        ('"zero_quantized_gradients": true', "zero_optimization.zero_quantized_gradients: true"),
        (
            '"zero_quantized_nontrainable_weights": true',
            "zero_optimization.zero_quantized_nontrainable_weights: true",
        ),
        ('"zero_hpz_partition_size": 8', "zero_optimization.zero_hpz_partition_size: 8"),
    ],
)
def test_zero_plus_plus_switches(switch: str, evidence_text: str) -> None:
    text = '{"zero_optimization": {"stage": 3,\n' + switch + "}}"
    plan = detect_deepspeed(text, "ds.json")
    assert ids(plan) == ["deepspeed", "zero", "zero-3", "zero-plus-plus"]
    assert evidence(plan)["zero-plus-plus"] == evidence_text
    assert where(plan)["zero-plus-plus"][1] == 2


@pytest.mark.parametrize(
    "zero",
    [
        '{"stage": 3, "zero_hpz_partition_size": 1}',
        '{"stage": 3, "zero_quantized_weights": false}',
        '{"stage": 0, "zero_quantized_weights": true}',
    ],
)
def test_zero_plus_plus_off(zero: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + zero + "}", "ds.json")
    assert "zero-plus-plus" not in ids(plan)


def test_zero_plus_plus_below_stage_3_is_a_warning() -> None:
    plan = detect_deepspeed(
        '{"zero_optimization": {"stage": 2, "zero_quantized_gradients": true}}', "ds.json"
    )
    assert ids(plan) == ["deepspeed", "zero", "zero-2"]
    assert "ZeRO++ extends ZeRO stage 3" in plan.notes[0].message


@pytest.mark.parametrize(
    ("flag", "expected"), [("true", ["deepspeed", "zero", "zero-1"]), ("false", ["deepspeed"])]
)
def test_deprecated_boolean_zero_optimization(flag: str, expected: list[str]) -> None:
    plan = detect_deepspeed('{"zero_optimization": ' + flag + "}", "ds.json")
    assert ids(plan) == expected
    assert settings(plan)["deepspeed.zero_stage"] == (1 if flag == "true" else 0)


def test_settings_of_a_full_config() -> None:
    text = (
        '{\n"train_micro_batch_size_per_gpu": 4,\n"gradient_accumulation_steps": 8,\n'
        '"fp16": {"enabled": true},\n"zero_optimization": {\n"stage": 3,\n'
        '"offload_optimizer": {"device": "cpu"},\n"offload_param": {"device": "none"}\n}\n}'
    )
    plan = detect_deepspeed(text, "ds.json")
    assert settings(plan) == {
        "deepspeed.zero_stage": 3,
        "deepspeed.offload_optimizer": "cpu",
        "deepspeed.offload_param": "none",
        "train.micro_batch": 4,
        "train.gradient_accumulation": 8,
        "precision": "fp16",
    }
    assert setting_at(plan, "precision") == ("ds.json", 4, "fp16.enabled")


def test_auto_values_are_valid_and_record_nothing() -> None:
    text = (
        '{"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",'
        ' "bf16": {"enabled": "auto"}, "zero_optimization": {"stage": 2,'
        ' "offload_optimizer": {"device": "auto"}}}'
    )
    plan = detect_deepspeed(text, "ds.json")
    assert ids(plan) == ["deepspeed", "zero", "zero-2"]
    assert settings(plan) == {"deepspeed.zero_stage": 2}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"zero_optimization": {"stage": 3, "offload_param": "cpu"}}', "is not an object"),
        (
            '{"zero_optimization": {"stage": 3, "offload_param": {"device": "gpu"}}}',
            "'gpu' is not one of none, cpu, nvme",
        ),
        ('{"zero_optimization": "3"}', "zero_optimization: '3' is not an object"),
        ('{"train_micro_batch_size_per_gpu": "${MICRO}"}', 'is not an integer or "auto"'),
        ('{"zero_optimization": {"stage": 3, "zero_hpz_partition_size": 0}}', "below 1"),
    ],
)
def test_invalid_values(text: str, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_deepspeed(text, "ds.json")
    assert fragment in caught.value.message
    assert caught.value.line == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"zero_optimization": {"stage": 2}}, True),
        ({"train_batch_size": 8}, True),
        ({"train_micro_batch_size_per_gpu": "auto"}, True),
        ({"fp16": {"enabled": True}}, True),
        ({"optimizer": {"type": "AdamW"}, "scheduler": {"type": "WarmupLR"}}, True),
        ({"autotuning": {"enabled": True}}, True),
        ({"fp16": True}, False),
        ({"optimizer": {"type": "AdamW"}, "model": "m"}, False),
        ({"version": "1.0"}, False),
        ({}, False),
        ([1, 2], False),
    ],
)
def test_looks_like_deepspeed(value: object, expected: bool) -> None:
    assert looks_like_deepspeed(value) is expected


def test_reference_is_recorded_as_the_config_file_setting() -> None:
    doc = parse_yaml("base_model: m\ndeepspeed: ds/zero3_bf16.json\n", "c.yml")
    plan = deepspeed_reference(doc, ("deepspeed",), lambda _: Unavailable("file not found"))
    assert settings(plan)["deepspeed.config_file"] == "ds/zero3_bf16.json"
    assert setting_at(plan, "deepspeed.config_file") == ("c.yml", 2, "deepspeed")


def test_reference_that_is_neither_a_path_nor_a_mapping() -> None:
    doc = parse_yaml("deepspeed: 3\n", "c.yml")
    with pytest.raises(DetectError, match="neither a path to a DeepSpeed JSON nor a mapping"):
        deepspeed_reference(doc, ("deepspeed",), None)


def test_guessed_stage_is_marked_as_guessed_everywhere() -> None:
    here = Location("accelerate.yaml", 4, "deepspeed_config.deepspeed_config_file")
    plan = infer_from_name("../zero_stage2_config.json", here, "not found: looked at x")
    assert ids(plan) == ["deepspeed", "zero", "zero-2"]
    assert all("guessed" in (t.evidence or "") for t in plan.techniques if t.id != "deepspeed")
    assert evidence(plan)["zero"] == (
        "deepspeed_config.deepspeed_config_file: ../zero_stage2_config.json"
        " (not found: looked at x; ZeRO stage 2 guessed from the file name)"
    )
    stage = plan.settings["deepspeed.zero_stage"]
    assert (stage.value, stage.guessed, stage.location) == (2, True, here)
    assert [(n.severity, n.location) for n in plan.notes] == [("warning", here)]


@pytest.mark.parametrize(
    ("relative", "expected", "extra"),
    [
        (
            "deepspeed/zero_plus_plus.json",
            ["deepspeed", "zero", "zero-3", "zero-plus-plus"],
            {"train.micro_batch": 2, "precision": "bf16"},
        ),
        (
            "deepspeed/zero_infinity_nvme.json",
            ["deepspeed", "zero", "zero-3", "zero-infinity"],
            {"deepspeed.offload_optimizer": "nvme", "deepspeed.offload_param": "nvme"},
        ),
        (
            "deepspeed/no_zero.json",
            ["deepspeed"],
            {"deepspeed.zero_stage": 0, "train.gradient_accumulation": 2, "precision": "fp16"},
        ),
        (
            "deepspeed/hf_auto.json",
            ["deepspeed", "zero", "zero-2", "zero-offload"],
            {"deepspeed.zero_stage": 2, "deepspeed.offload_optimizer": "cpu"},
        ),
    ],
)
def test_deepspeed_fixtures(relative: str, expected: list[str], extra: dict[str, object]) -> None:
    plan = detect_deepspeed(fixture(relative), relative)
    assert ids(plan) == expected
    assert settings(plan).items() >= extra.items()
    assert looks_like_deepspeed(json.loads(fixture(relative)))
