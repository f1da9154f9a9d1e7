"""Every format says what the check looked at: techniques and pins with file:line and evidence,
settings, the model, declared scenarios, the readers' notes and the files skipped, and why."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from service.compat.output import FORMATS, render
from service.detect.plan import DetectNote, Plan, PlannedTechnique
from tests.compat.outputs import (
    FILES,
    SKIPPED,
    SOURCE,
    detected_plan,
    fail_report,
    pass_report,
    sarif,
)

CHECKED = [
    "technique qlora at axolotl.yml:4: adapter: qlora",
    "technique zero-3 at ds_z3.json:3: zero_optimization.stage: 3",
    "technique dora",
    "scenario reduce-memory",
    "library accelerate 0.27.2",
    "library peft 0.9.0 at requirements.txt:3",
    "setting deepspeed.offload_optimizer = cpu (guessed)",
    "setting deepspeed.zero_stage = 3 at ds_z3.json:3",
    "setting lora.targets = q_proj, v_proj at axolotl.yml:9",
    "setting train.gradient_checkpointing = true",
    "model NousResearch/Llama-2-7b-hf at axolotl.yml:1",
    "warning: deepspeed file not found, stage guessed (axolotl.yml:12)",
    "skipped docker-compose.yml: not a training config",
]
HEADING = "3 techniques, 1 scenario, 2 libraries, 4 settings, 1 model, 1 note, 1 skipped file"


def rendered(fmt: str, **extra: Any) -> str:
    return render(fail_report(), fmt, files=FILES, source=SOURCE, **extra)


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_a_plan_every_format_is_unchanged_by_the_new_arguments(fmt: str) -> None:
    assert rendered(fmt) == rendered(fmt, plan=None, skipped=())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_each_technique_pin_and_skipped_file(fmt: str) -> None:
    text = rendered(fmt, plan=detected_plan(), skipped=SKIPPED)
    assert text != rendered(fmt)
    for needle in ("qlora", "ds_z3.json", "zero_optimization.stage: 3", "peft", "0.9.0"):
        assert needle in text, needle
    for needle in ("docker-compose.yml", "not a training config", "stage guessed"):
        assert needle in text, needle


def test_text_has_a_checked_block_before_the_summary_line() -> None:
    lines = rendered("text", plan=detected_plan(), skipped=SKIPPED).splitlines()
    start = lines.index(f"checked: {HEADING}")
    assert lines[start + 1 : -1] == [f"    {item}" for item in CHECKED]
    assert lines[-1].startswith("ftmatrix: fail — ")
    assert lines[:start] == rendered("text").splitlines()[:-1]


def test_text_with_an_empty_plan_says_so() -> None:
    text = render(pass_report(), "text", plan=Plan())
    assert text == "checked: 0 techniques\nftmatrix: pass — no findings (data revision 3)\n"


def test_json_plan_section() -> None:
    document = json.loads(rendered("json", plan=detected_plan(), skipped=SKIPPED))
    plan = document["plan"]
    assert sorted(plan) == [
        "libraries",
        "model",
        "notes",
        "scenarios",
        "settings",
        "skipped",
        "techniques",
    ]
    assert plan["techniques"][0] == {
        "id": "qlora",
        "evidence": "adapter: qlora",
        "location": {"file": "axolotl.yml", "line": 4, "key": "adapter"},
    }
    assert plan["techniques"][2] == {"id": "dora", "evidence": None, "location": None}
    assert [x["name"] for x in plan["libraries"]] == ["accelerate", "peft"]
    assert plan["libraries"][1]["location"] == {"file": "requirements.txt", "line": 3, "key": None}
    settings = {x["name"]: x for x in plan["settings"]}
    assert settings["lora.targets"]["value"] == ["q_proj", "v_proj"]
    assert settings["deepspeed.zero_stage"]["value"] == 3
    assert settings["train.gradient_checkpointing"]["value"] is True
    assert settings["deepspeed.offload_optimizer"] == {
        "name": "deepspeed.offload_optimizer",
        "value": "cpu",
        "guessed": True,
        "location": None,
    }
    assert plan["model"]["name"] == "NousResearch/Llama-2-7b-hf"
    assert plan["notes"] == [
        {
            "severity": "warning",
            "message": "deepspeed file not found, stage guessed",
            "location": {"file": "axolotl.yml", "line": 12, "key": None},
        }
    ]
    assert plan["scenarios"] == ["reduce-memory"]
    assert plan["skipped"] == [{"file": "docker-compose.yml", "reason": "not a training config"}]


def test_json_skipped_files_alone_still_get_a_plan_section() -> None:
    plan = json.loads(render(pass_report(), "json", skipped=SKIPPED))["plan"]
    assert plan["techniques"] == []
    assert plan["model"] is None
    assert plan["skipped"] == [{"file": "docker-compose.yml", "reason": "not a training config"}]


def test_sarif_run_properties_carry_the_plan_as_json_does() -> None:
    document = sarif(fail_report(), plan=detected_plan(), skipped=SKIPPED)
    expected = json.loads(rendered("json", plan=detected_plan(), skipped=SKIPPED))["plan"]
    assert document["runs"][0]["properties"]["plan"] == expected


def test_junit_properties_name_each_item_once() -> None:
    text = rendered("junit", plan=detected_plan(), skipped=SKIPPED)
    root = ET.fromstring(text)  # noqa: S314  (our own output)
    pairs = [
        (p.get("name"), p.get("value")) for p in root.iterfind("testsuite/properties/property")
    ]
    names = [name for name, _ in pairs]
    assert len(set(names)) == len(names)
    found = dict(pairs)
    assert found["technique.qlora"] == "axolotl.yml:4: adapter: qlora"
    assert found["technique.dora"] == "<plan>"
    assert found["library.peft"] == "0.9.0 at requirements.txt:3"
    assert found["setting.deepspeed.offload_optimizer"] == "cpu (guessed)"
    assert found["model"] == "NousResearch/Llama-2-7b-hf at axolotl.yml:1"
    assert found["note.1"] == "warning: deepspeed file not found, stage guessed (axolotl.yml:12)"
    assert found["scenario.1"] == "reduce-memory"
    assert found["skipped.1"] == "docker-compose.yml: not a training config"
    assert names[:4] == ["verdict", "revision", "source", "fail-on"]


def test_github_lists_the_plan_in_a_collapsed_group_of_plain_lines() -> None:
    lines = rendered("github", plan=detected_plan(), skipped=SKIPPED).splitlines()
    start = lines.index(f"::group::ftmatrix checked {HEADING}")
    assert lines[start + 1 :] == [f"checked {item}" for item in CHECKED] + ["::endgroup::"]
    # Without findings the group is still there; without anything, nothing is printed.
    alone = render(pass_report(), "github", plan=detected_plan()).splitlines()
    assert alone[0].startswith("::group::")
    assert alone[-1] == "::endgroup::"
    assert render(pass_report(), "github") == ""


def test_config_text_in_the_plan_cannot_start_a_workflow_command() -> None:
    plan = Plan()
    plan.add_technique(PlannedTechnique("lora", None, "\n::error::injected"))
    plan.notes.append(DetectNote("warning", "x\n::add-mask::y"))
    lines = render(pass_report(), "github", plan=plan, skipped=(("::a.yml", "why"),)).splitlines()
    assert [x for x in lines if x.lstrip().startswith("::")] == [lines[0], lines[-1]]
