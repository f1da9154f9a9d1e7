"""detect_files: reading from disk, following deepspeed references, merging, read errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.detect import DetectError, detect_files
from tests.detect._helpers import FIXTURES, evidence, ids, where


@pytest.fixture
def axolotl_dir(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "axolotl", tmp_path / "axolotl")
    return tmp_path / "axolotl"


def test_axolotl_qlora_follows_deepspeed_relative_to_the_config(axolotl_dir: Path) -> None:
    config = axolotl_dir / "qlora.yml"
    plan = detect_files([config])
    json_file = str(axolotl_dir / "deepspeed_configs/zero3_bf16.json")
    assert ids(plan) == ["qlora", "deepspeed", "zero", "zero-3"]
    assert where(plan) == {
        "qlora": (str(config), 19, "adapter"),
        "deepspeed": (str(config), 55, "deepspeed"),
        "zero": (json_file, 3, "zero_optimization.stage"),
        "zero-3": (json_file, 3, "zero_optimization.stage"),
    }


def test_missing_deepspeed_file_falls_back_to_its_name(axolotl_dir: Path) -> None:
    (axolotl_dir / "deepspeed_configs/zero3_bf16.json").unlink()
    config = axolotl_dir / "qlora.yml"
    plan = detect_files([config])
    assert ids(plan) == ["qlora", "deepspeed", "zero", "zero-3"]
    assert where(plan)["zero-3"] == (str(config), 55, "deepspeed")
    assert evidence(plan)["zero-3"] == (
        "deepspeed: deepspeed_configs/zero3_bf16.json"
        " (file not found; ZeRO stage 3 from the file name)"
    )


def test_reference_to_a_directory_falls_back_to_its_name(axolotl_dir: Path) -> None:
    (axolotl_dir / "deepspeed_configs/zero3_bf16.json").unlink()
    (axolotl_dir / "deepspeed_configs/zero3_bf16.json").mkdir()
    plan = detect_files([axolotl_dir / "qlora.yml"])
    assert "(not a regular file; ZeRO stage 3" in (evidence(plan)["zero-3"] or "")


def test_broken_referenced_json_is_reported_in_that_file(axolotl_dir: Path) -> None:
    json_file = axolotl_dir / "deepspeed_configs/zero3_bf16.json"
    json_file.write_text('{\n  "zero_optimization": {\n    "stage": 3,\n  }\n}\n')
    with pytest.raises(DetectError) as caught:
        detect_files([axolotl_dir / "qlora.yml"])
    error = caught.value
    assert (error.file, error.line, error.column) == (str(json_file), 4, 3)
    assert "referenced from" in error.message


def test_root_keeps_references_inside_it(tmp_path: Path) -> None:
    outside = tmp_path / "secret_zero2.json"
    outside.write_text('{"zero_optimization": {"stage": 3}}')
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "inside_zero1.json").write_text('{"zero_optimization": {"stage": 1}}')
    config = upload / "c.yml"
    for reference, expected in [
        ("../secret_zero2.json", "zero-2"),
        (str(outside), "zero-2"),
        ("inside_zero1.json", "zero-1"),
    ]:
        config.write_text(f"base_model: m\ndeepspeed: {reference}\n")
        plan = detect_files([config], root=upload)
        assert expected in ids(plan), reference
    config.write_text("base_model: m\ndeepspeed: ../secret_zero2.json\n")
    assert f"(outside {upload}, not read; ZeRO stage 2" in (
        evidence(detect_files([config], root=upload))["deepspeed"] or ""
    )
    # Without a root the same reference is read.
    assert "zero-3" in ids(detect_files([config]))


def test_root_is_checked_after_resolving_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "real_zero2.json"
    outside.write_text('{"zero_optimization": {"stage": 3}}')
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "link_zero2.json").symlink_to(outside)
    (upload / "c.yml").write_text("base_model: m\ndeepspeed: link_zero2.json\n")
    plan = detect_files([upload / "c.yml"], root=upload)
    assert "zero-2" in ids(plan)
    assert "zero-3" not in ids(plan)


def test_several_files_merge_in_order_first_finding_wins(tmp_path: Path) -> None:
    ds_dir = tmp_path / "deepspeed"
    ds_dir.mkdir()
    shutil.copy(FIXTURES / "llamafactory/deepspeed/ds_z2_offload_config.json", ds_dir)
    train = tmp_path / "train_lora"
    train.mkdir()
    shutil.copy(FIXTURES / "llamafactory/train_lora/llama3_lora_sft_ds2_offload.yaml", train)
    shutil.copy(FIXTURES / "peft/adapter_config.json", tmp_path)
    shutil.copy(FIXTURES / "pip/requirements-freeze.txt", tmp_path / "requirements.txt")
    config = train / "llama3_lora_sft_ds2_offload.yaml"
    plan = detect_files([config, tmp_path / "adapter_config.json", tmp_path / "requirements.txt"])
    assert ids(plan) == [
        "lora",
        "dora",
        "deepspeed",
        "zero",
        "zero-2",
        "zero-offload",
        "peft",
    ]
    ds_file = str(train / "../deepspeed/ds_z2_offload_config.json")
    assert where(plan)["zero-offload"] == (
        ds_file,
        21,
        "zero_optimization.offload_optimizer.device",
    )
    assert where(plan)["lora"] == (str(config), 8, "finetuning_type")
    assert where(plan)["peft"] == (str(tmp_path / "adapter_config.json"), 18, "peft_type")
    assert plan.libraries["torch"].version == "2.3.0+cu121"
    assert plan.libraries["torch"].location is not None
    assert plan.libraries["torch"].location.file == str(tmp_path / "requirements.txt")


def test_no_files_is_an_empty_plan() -> None:
    plan = detect_files([])
    assert (plan.techniques, plan.libraries) == ([], {})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="cannot read: No such file or directory") as caught:
        detect_files([tmp_path / "nope.yml"])
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "nope.yml"), None)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.mkdir()
    with pytest.raises(DetectError, match="cannot read: Is a directory"):
        detect_files([path])


def test_non_utf8_file_points_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"adapter: lora\nbase_model: caf\xe9\n")
    with pytest.raises(DetectError, match="not UTF-8 text") as caught:
        detect_files([path])
    assert (caught.value.line, caught.value.column) == (2, 16)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "adapter_config.json"
    path.write_bytes(b'\xef\xbb\xbf{\n"peft_type": "LORA"\n}')
    assert where(detect_files([path]))["lora"] == (str(path), 2, "peft_type")


def test_unknown_file_kind(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# hello\n")
    with pytest.raises(DetectError, match="cannot tell what kind of file this is") as caught:
        detect_files([path])
    assert caught.value.file == str(path)
