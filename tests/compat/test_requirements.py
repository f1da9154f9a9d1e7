"""Structured pair requirements: judged against detected settings, and the corpus verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.compat import document, rules
from service.compat.requirements import Requirement, judge, requirement_fields, requirement_from
from service.detect.files import detect_files
from service.detect.plan import Location, Plan, PlannedSetting, PlannedTechnique

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus"
SNAPSHOT = ROOT / "service" / "data" / "snapshot.json"
KNOWLEDGE = document.load(json.loads(SNAPSHOT.read_text(encoding="utf-8"))).knowledge
# Pins at the versions PEFT's FSDP guide asks for, so only settings decide the verdict.
PINS = "peft==0.14.0\nbitsandbytes==0.43.3\naccelerate==1.0.1\ntransformers==4.45.0\ntrl==0.12.0\n"

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="shared/corpus is not beside this checkout"
)


def setting(name: str, value: object, *, guessed: bool = False) -> PlannedSetting:
    return PlannedSetting(name, value, Location("cfg.yaml", 7, name), guessed)  # type: ignore[arg-type]


def test_operators_meet_violate_or_cannot_tell() -> None:
    off = Requirement("fsdp.use_orig_params", "equals", False)
    assert judge(off, {}) == "undetermined"
    assert judge(off, {"fsdp.use_orig_params": setting("fsdp.use_orig_params", False)}) == "met"
    assert judge(off, {"fsdp.use_orig_params": setting("fsdp.use_orig_params", True)}) == "unmet"
    guessed = {"fsdp.use_orig_params": setting("fsdp.use_orig_params", False, guessed=True)}
    assert judge(off, guessed) == "undetermined"
    nvme = Requirement("deepspeed.offload_optimizer", "not_equals", "nvme")
    assert judge(nvme, {"deepspeed.offload_optimizer": setting("x", "CPU")}) == "met"
    assert judge(nvme, {"deepspeed.offload_optimizer": setting("x", "nvme")}) == "unmet"
    unset = Requirement("deepspeed.offload_param", "absent")
    assert judge(unset, {}) == "undetermined"  # no DeepSpeed config was read at all
    stage = {"deepspeed.zero_stage": setting("deepspeed.zero_stage", 2)}
    assert judge(unset, stage) == "met"
    assert judge(unset, stage | {"deepspeed.offload_param": setting("x", "cpu")}) == "unmet"
    assert judge(Requirement("quant.bits", "equals", 1), {"quant.bits": setting("x", True)}) == (
        "unmet"
    )


def test_stored_form_round_trips_and_bad_forms_are_refused() -> None:
    stored = {"setting": "precision", "one_of": ["bf16", "fp32"], "text": "t", "sources": ["u"]}
    assert requirement_fields(requirement_from(stored)) == stored
    with pytest.raises(ValueError, match="unknown setting"):
        requirement_from({"setting": "nope", "equals": 1})
    with pytest.raises(ValueError, match="exactly one"):
        requirement_from({"setting": "precision", "equals": "bf16", "not_equals": "fp16"})


def qlora_fsdp(**values: object) -> Plan:
    plan = Plan(techniques=[PlannedTechnique("qlora"), PlannedTechnique("fsdp")])
    for name, value in values.items():
        plan.add_setting(setting(name.replace("__", "."), value))
    return plan


def zero2_offload(**values: object) -> Plan:
    plan = Plan(techniques=[PlannedTechnique("zero-2"), PlannedTechnique("zero-offload")])
    for name, value in values.items():
        plan.add_setting(setting(name.replace("__", "."), value))
    return plan


def test_a_violated_requirement_is_an_error_at_the_setting() -> None:
    report = rules.check_plan(KNOWLEDGE, zero2_offload(deepspeed__offload_optimizer="nvme"))
    assert report.verdict == "fail"
    (unmet,) = [f for f in report.findings if f.rule == "FTM109"]
    assert unmet.severity == "error"
    assert unmet.message.startswith("deepspeed.offload_optimizer is nvme, but ")
    assert unmet.message.endswith("requires deepspeed.offload_optimizer != nvme.")
    assert unmet.locations[0] == Location("cfg.yaml", 7, "deepspeed.offload_optimizer")
    assert unmet.fix == "set deepspeed.offload_optimizer != nvme"
    assert "FTM104" not in {f.rule for f in report.findings}


def test_a_missing_setting_is_a_warning_naming_it() -> None:
    report = rules.check_plan(KNOWLEDGE, zero2_offload())
    missing = [f for f in report.findings if f.rule == "FTM110"]
    assert missing
    assert all(f.severity == "warning" for f in missing)
    assert "add deepspeed.offload_optimizer != nvme to the config" in {f.fix for f in missing}
    assert "FTM111" not in {f.rule for f in report.findings}


def test_a_recommended_setting_that_differs_is_a_note_not_a_failure() -> None:
    # PEFT's FSDP-QLoRA setup uses use_orig_params=false for memory savings; LLaMA-Factory's
    # own FSDP-QLoRA example sets it true, and runs: a note at the line, never an error.
    report = rules.check_plan(
        KNOWLEDGE, qlora_fsdp(fsdp__use_orig_params=True, fsdp__cpu_ram_efficient_loading=True)
    )
    assert "FTM109" not in {f.rule for f in report.findings}
    (differs,) = [f for f in report.findings if f.rule == "FTM113"]
    assert differs.severity == "info"
    assert differs.locations[0] == Location("cfg.yaml", 7, "fsdp.use_orig_params")
    assert "https://huggingface.co/docs/peft/accelerate/fsdp" in differs.evidence
    unknown = rules.check_plan(KNOWLEDGE, qlora_fsdp())
    assert not {"FTM109", "FTM110", "FTM113"} & {f.rule for f in unknown.findings}


def corpus_report(tmp_path: Path, *names: str, extra: str = "") -> rules.Report:
    pins = tmp_path / "requirements.txt"
    pins.write_text(PINS, encoding="utf-8")
    paths = [CORPUS / name for name in names]
    if extra:
        config = tmp_path / "train.yaml"
        config.write_text(extra, encoding="utf-8")
        paths.insert(0, config)
    plan = detect_files([*paths, pins], root=tmp_path, allow_outside_root=True)
    return rules.check_plan(KNOWLEDGE, plan)


@needs_corpus
@pytest.mark.parametrize(
    "name",
    [
        "axolotl/examples/llama-2/qlora-fsdp.yml",
        "axolotl/examples/mistral/mixtral/mixtral-qlora-fsdp.yml",
    ],
)
def test_canonical_fsdp_qlora_passes_without_warnings(tmp_path: Path, name: str) -> None:
    report = corpus_report(tmp_path, name)
    assert report.verdict == "pass", [(f.rule, f.message) for f in report.findings]
    assert "FTM111" in {f.rule for f in report.findings}


DS = "llamafactory/examples/deepspeed/ds_z2_offload_config.json"


@needs_corpus
@pytest.mark.parametrize("also_passed", [False, True])
def test_canonical_zero2_offload_lora_passes_either_way(tmp_path: Path, also_passed: bool) -> None:
    config = (
        "model_name_or_path: Qwen/Qwen3-4B-Instruct-2507\nstage: sft\ndo_train: true\n"
        f"finetuning_type: lora\nlora_rank: 8\nlora_target: all\ndeepspeed: {CORPUS / DS}\n"
    )
    report = corpus_report(tmp_path, *([DS] if also_passed else []), extra=config)
    assert report.verdict == "pass", [(f.rule, f.message) for f in report.findings]
    met = [f for f in report.findings if f.rule == "FTM111"]
    assert [f.techniques for f in met] == [("zero-2", "zero-offload")]


@needs_corpus
@pytest.mark.parametrize(
    "names",
    [
        ("axolotl/examples/llama-2/qlora-fsdp.yml",),
        ("axolotl/examples/mistral/mixtral/mixtral-qlora-fsdp.yml",),
        ("axolotl/examples/glm47-flash/qlora_fsdp.yaml",),
        (
            "llamafactory/examples/extras/fsdp_qlora/llama3_lora_sft.yaml",
            "llamafactory/examples/accelerate/fsdp_config.yaml",
        ),
        ("llamafactory/examples/deepspeed/ds_z2_offload_config.json",),
    ],
)
def test_upstream_examples_checked_alone_pass_without_warnings(names: tuple[str, ...]) -> None:
    """The tools' own FSDP-QLoRA and ZeRO-2-offload examples, with no requirements file (as a
    pre-commit hook sees them): no error and no warning, only notes."""
    plan = detect_files([CORPUS / n for n in names], root=CORPUS / names[0].split("/")[0])
    report = rules.check_plan(KNOWLEDGE, plan)
    severities = {f.severity for f in report.findings}
    assert report.verdict == "pass", [(f.rule, f.message) for f in report.findings]
    assert severities <= {"info"}
