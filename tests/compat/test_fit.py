"""Checks that know the model, the offering and the GPU: FTM301-FTM304 wired into the check,
and the fit rules FTM401-FTM403, offline and through the API with the same findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.cli import main
from service.compat.findings import FIT_EXCEEDED, FIT_LOW_HEADROOM, FIT_NOT_CHECKED
from service.compat.fit import FitTarget, fit_findings, plan_input
from service.compat.gate import EXIT_ERROR, EXIT_FINDINGS, CheckOptions, plan_body, run_check
from service.compat.modelchecks import Placement
from service.detect.files import FileAccess, detect_file
from service.detect.plan import Plan, PlannedModel, PlannedSetting
from service.estimates import FsdpStrategy, Method, OffloadDevice, estimate

SNAPSHOT = Path(__file__).resolve().parents[2] / "service" / "data" / "snapshot.json"
DOCUMENT = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
MODELS, HARDWARE = DOCUMENT["models"], DOCUMENT["hardware"]
# LLaMA-Factory: full fine-tuning of Llama-3-8B, 4 x 2048 tokens per GPU, bf16, no DeepSpeed.
FULL_FT = (
    "model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\nstage: sft\ndo_train: true\n"
    "finetuning_type: full\ndataset: identity\ntemplate: llama3\noutput_dir: saves/full\n"
    "cutoff_len: 2048\nper_device_train_batch_size: 4\nbf16: true\n"
)
QLORA = (
    "base_model: microsoft/phi-4\nadapter: qlora\nload_in_4bit: true\nlora_r: 16\n"
    "sequence_len: 1024\nmicro_batch_size: 1\ngradient_checkpointing: true\nbf16: true\n"
    "datasets:\n  - path: tatsu-lab/alpaca\n    type: alpaca\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check(tmp_path: Path, config: Path, **placement: Any) -> tuple[int, dict[str, Any]]:
    options = CheckOptions(
        files=[str(config)], fmt="json", root=tmp_path, placement=Placement(**placement)
    )
    result = run_check(options)
    return result.exit_code, json.loads(result.output) if result.output else {}


def by_rule(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule]


def test_a_config_that_cannot_fit_fails_with_the_component_and_a_fix(tmp_path: Path) -> None:
    config = write(tmp_path, "full.yaml", FULL_FT)
    code, report = check(tmp_path, config, hardware="h100-80gb", gpus=8)
    assert code == EXIT_FINDINGS
    assert report["verdict"] == "fail"
    (finding,) = by_rule(report, FIT_EXCEEDED)
    assert finding["severity"] == "error"
    assert "8 x h100-80gb" in finding["message"]
    assert "the largest part is activations" in finding["message"]
    # The fix is the cheapest change cheapest_fix finds, with the estimate after it.
    assert finding["fix"].startswith("ZeRO stage 3 instead of 0")
    assert "gradient checkpointing" in finding["fix"]
    assert "per GPU" in finding["fix"]
    assert any("AdamW" in d for d in finding["details"])
    # The model's line first, then the settings that drive the estimate.
    lines = [loc["line"] for loc in finding["locations"]]
    assert lines[0] == 1
    assert {8, 9} <= set(lines)


def test_the_cli_fails_the_job_and_prints_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "full.yaml", FULL_FT)
    argv = ["check", str(config), "--root", str(tmp_path), "--gpu", "h100-80gb", "--gpus", "8"]
    assert main(argv) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "FTM401 [does-not-fit]" in out
    assert "fix: ZeRO stage 3 instead of 0" in out


def test_the_fix_found_fits_by_the_estimate(tmp_path: Path) -> None:
    plan = detect_file(write(tmp_path, "full.yaml", FULL_FT), FileAccess(tmp_path))
    record = next(m for m in MODELS if m["id"] == "meta-llama-3-8b-instruct")
    read = plan_input(plan, record, gpus=8)
    assert read.input.technique.method is Method.FULL
    assert read.input.activations is not None
    assert (read.input.activations.seq_len, read.input.activations.micro_batch) == (2048, 4)
    assert estimate(read.input).per_gpu.total > 80 * 10**9


def test_qlora_on_one_l4_fits_quietly(tmp_path: Path) -> None:
    config = write(tmp_path, "qlora.yml", QLORA)
    _code, report = check(tmp_path, config, hardware="l4-24gb")
    assert not [f for f in report["findings"] if f["rule"].startswith("FTM4")], report
    plan = detect_file(config, FileAccess(tmp_path))
    read = plan_input(plan, next(m for m in MODELS if m["id"] == "phi-4"))
    assert read.input.technique.method is Method.QLORA
    assert read.input.technique.adapter is not None
    assert read.input.technique.adapter.rank == 16


def test_under_ten_percent_headroom_is_a_warning() -> None:
    plan = Plan(model=PlannedModel("qwen2.5-0.5b"))
    plan.add_setting(PlannedSetting("train.seq_len", 512))
    record = next(m for m in MODELS if m["id"] == "qwen2.5-0.5b")
    total = estimate(plan_input(plan, record).input).per_gpu.total
    # A card of made-up size, 5% above the estimate: the rule, not the data, is under test.
    tight = {"id": "tight", "kind": "gpu", "memory_bytes": int(total / 0.95)}
    (finding,) = fit_findings(MODELS, [tight], plan, FitTarget("tight"))
    assert (finding.rule, finding.severity) == (FIT_LOW_HEADROOM, "warning")
    assert "under the 10% margin" in finding.message
    assert finding.fix
    roomy = {"id": "roomy", "kind": "gpu", "memory_bytes": int(total / 0.8)}
    assert fit_findings(MODELS, [roomy], plan, FitTarget("roomy")) == []


@pytest.mark.parametrize(
    ("model", "hardware", "why"),
    [
        (None, "h100-80gb", "name no base model"),
        ("org/never-heard-of", "h100-80gb", "not a model in the catalog"),
        ("microsoft/Phi-4-multimodal-instruct", "h100-80gb", "no architecture shape"),
        ("qwen2.5-0.5b", "mystery-gpu", "states no GPU memory"),
    ],
)
def test_fit_not_checked_is_a_note_saying_why(model: str | None, hardware: str, why: str) -> None:
    plan = Plan(model=PlannedModel(model) if model else None)
    # Every GPU in the data states its memory now: a card of unstated memory is made up here.
    unstated = {"id": "mystery-gpu", "kind": "gpu", "memory_bytes": None}
    (finding,) = fit_findings(MODELS, [*HARDWARE, unstated], plan, FitTarget(hardware))
    assert (finding.rule, finding.severity) == (FIT_NOT_CHECKED, "info")
    assert why in finding.message


def test_settings_map_to_the_estimator() -> None:
    plan = Plan(model=PlannedModel("phi-4"))
    for name, value in (
        ("deepspeed.zero_stage", 3),
        ("deepspeed.offload_optimizer", "cpu"),
        ("deepspeed.offload_param", "nvme"),
        ("train.gpus", 4),
        ("precision", "fp32"),
    ):
        plan.add_setting(PlannedSetting(name, value))
    plan.add_setting(PlannedSetting("train.micro_batch", 64, guessed=True))  # decides nothing
    record = next(m for m in MODELS if m["id"] == "phi-4")
    par = plan_input(plan, record).input.parallelism
    assert (par.zero_stage, par.total_gpus) == (3, 4)
    assert (par.offload.optimizer, par.offload.params) == (OffloadDevice.CPU, OffloadDevice.NVME)
    fsdp = Plan(model=PlannedModel("phi-4"))
    fsdp.add_setting(PlannedSetting("fsdp.sharding_strategy", "SHARD_GRAD_OP"))
    assert plan_input(fsdp, record, 2).input.parallelism.fsdp is FsdpStrategy.SHARD_GRAD_OP


def test_retired_model_and_offering_rules_reach_the_check(tmp_path: Path) -> None:
    config = write(tmp_path, "qlora.yml", QLORA)
    _, report = check(tmp_path, config, model="microsoft/Phi-3-mini-4k-instruct")
    (retired,) = by_rule(report, "FTM301")
    assert "2025-08-30" in retired["message"]
    _, report = check(tmp_path, config, offering="foundry-serverless-finetuning")
    (lacks,) = by_rule(report, "FTM303")
    assert lacks["techniques"] == ["qlora"]
    _, report = check(tmp_path, config, model="phi-3-mini-4k-instruct",
                      offering="foundry-serverless-finetuning")  # fmt: skip
    (cannot,) = by_rule(report, "FTM302")
    assert "2025-08-30" in cannot["message"]
    _, report = check(tmp_path, config, offering="kaito")
    assert not [f for f in report["findings"] if f["rule"].startswith("FTM30")]


def test_unknown_gpu_or_offering_is_exit_2_with_what_is_allowed(tmp_path: Path) -> None:
    config = write(tmp_path, "qlora.yml", QLORA)
    for placement, flag in ((Placement(hardware="h100"), "--gpu"),
                            (Placement(offering="nope"), "--offering")):  # fmt: skip
        result = run_check(CheckOptions(files=[str(config)], root=tmp_path, placement=placement))
        assert result.exit_code == EXIT_ERROR
        (line,) = result.errors
        assert line.startswith(f"{flag}: unknown")
        assert "allowed:" in line
    result = run_check(CheckOptions(files=[str(config)], root=tmp_path,
                                    placement=Placement(gpus=8)))  # fmt: skip
    assert result.exit_code == EXIT_ERROR


def test_online_and_offline_give_the_same_findings(client: TestClient, tmp_path: Path) -> None:
    exported = tmp_path / "export.json"
    exported.write_bytes(client.get("/v1/export").content)
    fit_rules = set()
    for text, placement in (
        (FULL_FT.replace("finetuning_type: full", "finetuning_type: lora"),
         Placement(hardware="h100-80gb", gpus=1)),
        (QLORA, Placement(hardware="t4-16gb", offering="kaito")),
        (QLORA, Placement(model="microsoft/Phi-4-multimodal-instruct", hardware="a10-24gb")),
    ):  # fmt: skip
        config = write(tmp_path, "config.yml", text)
        plan = detect_file(config, FileAccess(tmp_path))
        online = client.post("/v1/checks", json=plan_body(plan, placement))
        assert online.status_code == 200, online.text
        result = run_check(CheckOptions(files=[str(config)], root=tmp_path, fmt="json",
                                        snapshot=exported, placement=placement))  # fmt: skip
        offline = json.loads(result.output)
        keys = ("rule", "severity", "message", "fix", "details", "evidence", "techniques")
        assert [{k: f[k] for k in keys} for f in online.json()["findings"]] == [
            {k: f[k] for k in keys} for f in offline["findings"]
        ]
        assert online.json()["verdict"] == offline["verdict"]
        fit_rules |= {f["rule"] for f in offline["findings"] if f["rule"].startswith("FTM4")}
    assert fit_rules == {FIT_EXCEEDED, FIT_NOT_CHECKED}


def test_the_api_refuses_unknown_hardware_with_what_is_allowed(client: TestClient) -> None:
    r = client.post("/v1/checks", json={"techniques": ["lora"], "hardware": "h100"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"][0]["location"] == "body.hardware"
    assert "h100-80gb" in problem["allowed"]
