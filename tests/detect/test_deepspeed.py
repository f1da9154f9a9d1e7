"""DeepSpeed JSON configs: stages, offload, "auto", and stages inferred from file names."""

from __future__ import annotations

import pytest

from service.detect.deepspeed import (
    Source,
    Unavailable,
    deepspeed_reference,
    detect_deepspeed,
    infer_from_name,
)
from service.detect.errors import DetectError
from service.detect.plan import Location
from service.detect.yamlpos import parse_yaml
from tests.detect._helpers import evidence, fixture, ids, where

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


@pytest.mark.parametrize("stage", ["4", "-1", "true", '"3"', "null", "2.5"])
def test_unknown_stage_values_record_deepspeed_only(stage: str) -> None:
    plan = detect_deepspeed('{"zero_optimization": {"stage": ' + stage + "}}", "ds.json")
    assert ids(plan) == ["deepspeed"]
    assert "is not a known ZeRO stage" in (plan.techniques[0].evidence or "")


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
        ('{"stage": 3, "offload_param": {"device": "nvme"}}', "offload_param.device"),
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
        '{"stage": 3, "offload_param": "cpu"}',
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
        "deepspeed: deepspeed_configs/zero3_bf16.json (not read; ZeRO stage 3 from the file name)"
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
