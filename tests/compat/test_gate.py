"""service.compat.gate: every file read, bad files reported one line each, exit codes for CI."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from service.compat import document, gate, rules
from service.compat.gate import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    SNAPSHOT,
    CheckOptions,
    GateResult,
    plan_body,
    run_check,
)
from service.compat.modelchecks import model_findings, with_findings
from service.config import PROJECT_ROOT
from service.detect import detect_files
from service.detect.errors import NotAConfig
from service.detect.files import FileAccess, detect_file
from service.detect.plan import Location, Plan, PlannedLibrary, PlannedSetting, PlannedTechnique

EXAMPLE = PROJECT_ROOT / "examples" / "axolotl-qlora-zero3"
CONFIG = EXAMPLE / "config.yml"
OLD_PINS = EXAMPLE / "requirements-old.txt"
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
COMPOSE = "services:\n  api:\n    image: ftmatrix:latest\n    ports: ['8000:8000']\n"
FULL_FT = (
    "model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\nstage: sft\ndo_train: true\n"
    "finetuning_type: full\ndataset: identity\ntemplate: llama3\noutput_dir: saves/full\n"
)


def check(*files: str | Path, **options: Any) -> GateResult:
    """run_check offline with JSON output; references are resolved from the example's root."""
    options.setdefault("fmt", "json")
    options.setdefault("root", PROJECT_ROOT)
    return run_check(CheckOptions(files=[str(f) for f in files], **options))


def body(result: GateResult) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def rules_found(result: GateResult) -> set[str]:
    return {f["rule"] for f in body(result)["findings"]}


def test_good_config_with_old_pins_fails_with_findings() -> None:
    result = check(CONFIG, OLD_PINS)
    assert (result.exit_code, result.errors) == (EXIT_FINDINGS, ())
    assert "FTM102" in rules_found(result)
    assert body(result)["verdict"] == "fail"


def test_bad_files_do_not_hide_the_good_ones(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("adapter: qlora\nload_in_4bit: [true\n")
    folder = tmp_path / "folder.yml"
    folder.mkdir()
    fifo = tmp_path / "pipe.yml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yml"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"adapter: lora\nbase_model: caf\xe9\n")
    missing = tmp_path / "missing.yml"
    bad = [broken, folder, fifo, big, latin, missing]
    result = check(broken, CONFIG, folder, fifo, OLD_PINS, big, latin, missing)
    assert result.exit_code == EXIT_ERROR
    # The good files' report is complete: the same findings as when checked alone.
    assert body(result)["findings"] == body(check(CONFIG, OLD_PINS))["findings"]
    assert len(result.errors) == len(bad)
    for line, path in zip(result.errors, bad, strict=True):
        assert line.startswith(f"{path}:"), line
        assert "\n" not in line
    assert re.match(rf"{re.escape(str(broken))}:[23]:\d+: invalid YAML", result.errors[0])
    assert "a directory, not a regular file" in result.errors[1]
    assert "a FIFO, not a regular file" in result.errors[2]
    assert "larger than the 5 MiB limit" in result.errors[3]
    assert result.errors[4] == f"{latin}:2:16: not UTF-8 text"
    assert "No such file or directory" in result.errors[5]


def test_only_bad_files_give_exit_2_and_no_report(tmp_path: Path) -> None:
    result = check(tmp_path / "missing.yml")
    assert (result.exit_code, result.output) == (EXIT_ERROR, "")
    assert len(result.errors) == 1


def test_full_fine_tuning_passes_with_an_info_note(tmp_path: Path) -> None:
    config = tmp_path / "llama3_full_sft.yaml"
    config.write_text(FULL_FT)
    result = check(config)
    assert (result.exit_code, result.errors) == (EXIT_OK, ())
    report = body(result)
    assert (report["verdict"], report["findings"]) == ("pass", [])
    notes = report["plan"]["notes"]
    assert notes
    assert {n["severity"] for n in notes} == {"info"}


def test_corpus_full_fine_tune_passes() -> None:
    config = CORPUS / "llamafactory" / "examples" / "extras" / "badam" / "llama3_full_sft.yaml"
    if not config.is_file():
        pytest.skip(f"no corpus at {CORPUS}")
    result = check(config, root=CORPUS / "llamafactory")
    assert (result.exit_code, result.errors) == (EXIT_OK, ())
    assert body(result)["plan"]["techniques"] == []


def test_pins_alone_pass_with_a_note(tmp_path: Path) -> None:
    pins = tmp_path / "requirements.txt"
    pins.write_text("numpy==2.0.0\n")
    result = check(pins)
    assert result.exit_code == EXIT_OK
    messages = [n["message"] for n in body(result)["plan"]["notes"]]
    assert any("nothing to check" in m or "no technique" in m for m in messages), messages


@pytest.fixture
def compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker-compose.yml that the readers classify as not a training config."""
    path = tmp_path / "docker-compose.yml"
    path.write_text(COMPOSE)

    def classify(file: Path, access: FileAccess) -> Plan:
        if file == path:
            raise NotAConfig(str(file), None, None, "a Docker Compose file, not a training config")
        return detect_file(file, access)

    monkeypatch.setattr("service.compat.gate.detect_file", classify)
    return path


def test_a_file_that_is_not_a_training_config_is_skipped(compose: Path) -> None:
    result = check(compose, CONFIG)
    assert (result.exit_code, result.errors) == (EXIT_FINDINGS, ())  # CONFIG's warnings
    assert body(result)["plan"]["skipped"] == [
        {"file": str(compose), "reason": "a Docker Compose file, not a training config"}
    ]
    assert body(result)["findings"] == body(check(CONFIG))["findings"]
    alone = check(compose)
    assert (alone.exit_code, alone.errors) == (EXIT_OK, ())
    assert body(alone)["verdict"] == "pass"


def test_strict_makes_a_skipped_file_an_error(compose: Path) -> None:
    result = check(compose, CONFIG, strict=True)
    assert result.exit_code == EXIT_ERROR
    assert result.errors == (f"{compose}: a Docker Compose file, not a training config (--strict)",)
    assert body(result)["plan"]["skipped"] == []
    assert body(result)["findings"]  # CONFIG is still reported


def test_a_pin_that_is_not_pep440_is_that_files_error(tmp_path: Path) -> None:
    pins = tmp_path / "requirements.txt"
    pins.write_text("numpy==2.0.0\npeft===banana\n")
    result = check(CONFIG, pins)
    assert result.exit_code == EXIT_ERROR
    assert result.errors == (f"{pins}:2: peft: 'banana' is not a PEP 440 version",)
    assert body(result)["findings"]  # CONFIG's findings are still there


def test_a_reader_bug_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def flaky(path: Path, access: FileAccess) -> Plan:
        if path.name == "boom.yml":
            raise KeyError("adapter")
        return detect_file(path, access)

    monkeypatch.setattr("service.compat.gate.detect_file", flaky)
    result = check(tmp_path / "boom.yml", CONFIG)
    assert result.exit_code == EXIT_ERROR
    assert result.errors == (f"{tmp_path / 'boom.yml'}: could not be read (KeyError: 'adapter')",)
    assert body(result)["findings"]


def test_alias_bomb_and_deep_nesting_are_one_line_each(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yml"
    lines = ["adapter: lora", 'a0: &a0 ["lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    bomb.write_text("\n".join(lines) + "\n")
    deep = tmp_path / "ds_config.json"
    deep.write_text('{"train_batch_size": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = check(bomb, deep)
    assert result.exit_code == EXIT_ERROR
    assert len(result.errors) == 2
    assert result.errors[0].startswith(f"{bomb}:")
    assert "YAML aliases expand to more than" in result.errors[0]
    assert result.errors[1].startswith(f"{deep}")


def test_reference_outside_the_root_is_read_only_when_allowed(tmp_path: Path) -> None:
    outside = tmp_path / "shared" / "zero3.json"
    outside.parent.mkdir()
    outside.write_text('{"zero_optimization": {"stage": 3}}\n')
    root = tmp_path / "repo"
    root.mkdir()
    config = root / "train.yml"
    config.write_text(f"base_model: m\nadapter: lora\ndeepspeed: {outside}\n")

    def files_of(result: GateResult) -> set[str]:
        techniques = body(result)["plan"]["techniques"]
        return {t["location"]["file"] for t in techniques if t["location"]}

    kept = check(config, root=root)
    assert kept.exit_code in (EXIT_OK, EXIT_FINDINGS)
    assert files_of(kept) == {str(config)}
    said = json.dumps(body(kept)["plan"])
    assert "outside the root" in said
    allowed = check(config, root=root, allow_outside_root=True)
    assert str(outside) in files_of(allowed)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    result = check(CONFIG, root=tmp_path / "nowhere")
    assert result == GateResult(
        EXIT_ERROR, errors=(f"--root {tmp_path / 'nowhere'}: not a directory",)
    )


def test_unknown_scenario_suggests_the_closest() -> None:
    result = check(CONFIG, scenarios=["reduce-memmory"])
    assert (result.exit_code, result.output) == (EXIT_ERROR, "")
    assert result.errors == ("unknown scenario 'reduce-memmory'; did you mean 'reduce-memory'?",)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the snapshot"),
        ("{not json", "is not usable"),
        ('{"format": "something-else/1"}', "is not usable: not a ftmatrix-snapshot/1 document"),
        ("[1, 2]", "is not usable"),
    ],
)
def test_unusable_snapshot_is_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    snapshot = tmp_path / "snapshot.json"
    if content is not None:
        snapshot.write_text(content)
    result = check(CONFIG, snapshot=snapshot)
    assert result.exit_code == EXIT_ERROR
    assert len(result.errors) == 1
    assert expected in result.errors[0]


def test_stale_snapshot_names_the_techniques_it_lacks(tmp_path: Path) -> None:
    doc = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    doc["techniques"] = [t for t in doc["techniques"] if t["id"] != "qlora"]
    doc["pairs"] = [p for p in doc["pairs"] if "qlora" not in (p["a"], p["b"])]
    doc["cells"] = [c for c in doc["cells"] if c["technique"] != "qlora"]
    snapshot = tmp_path / "old.json"
    snapshot.write_text(json.dumps(doc))
    result = check(CONFIG, snapshot=snapshot)
    assert result.exit_code == EXIT_ERROR
    assert result.errors == (f"the snapshot {snapshot} does not know qlora; export a newer one",)


def test_only_the_declared_scenarios_cells_are_loaded_and_the_report_is_the_same() -> None:
    doc = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    scenarios = ["Reducing memory usage", "data-parallel-memory"]
    result = check(CONFIG, OLD_PINS, scenarios=scenarios)
    full = document.load(doc)
    plan = detect_files([CONFIG, OLD_PINS], root=PROJECT_ROOT)
    plan.scenarios.extend(s for v in scenarios if (s := full.scenario(v)) is not None)
    expected = with_findings(rules.check_plan(full.knowledge, plan), model_findings(doc, plan))
    assert {f.rule for f in expected.findings} & {"FTM201", "FTM202", "FTM203"}
    got = [(f["rule"], f["scenario"], f["message"]) for f in body(result)["findings"]]
    assert sorted(got, key=str) == sorted(
        ((f.rule, f.scenario, f.message) for f in expected.findings), key=str
    )
    lean, lean_doc = gate._load_catalog(SNAPSHOT, ["data-parallel-memory"])
    assert lean.knowledge.cells
    assert {c.scenario for c in lean.knowledge.cells} == {"data-parallel-memory"}
    assert gate._load_catalog(SNAPSHOT, [])[0].knowledge.cells == ()
    assert lean_doc["cells"] == []
    assert lean_doc["models"] == doc["models"]


def test_step_summary_is_appended_and_a_write_failure_is_a_warning(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = check(CONFIG, OLD_PINS, step_summary=summary)
    assert result.exit_code == EXIT_FINDINGS
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### ftmatrix check: fail")
    unwritable = check(CONFIG, OLD_PINS, step_summary=tmp_path)
    assert unwritable.exit_code == EXIT_FINDINGS
    assert len(unwritable.warnings) == 1
    assert unwritable.warnings[0].startswith(f"cannot write the step summary to {tmp_path}")


def test_every_format_renders_the_same_check() -> None:
    for fmt in ("text", "json", "github", "junit", "sarif"):
        result = check(CONFIG, OLD_PINS, fmt=fmt)
        assert result.exit_code == EXIT_FINDINGS, fmt
        assert result.output.strip(), fmt


def test_plan_body_is_the_api_check_request() -> None:
    plan = Plan()
    plan.add_technique(PlannedTechnique("qlora", Location("c.yml", 3, "adapter"), "adapter"))
    plan.add_technique(PlannedTechnique("zero-3"))
    plan.scenarios.append("reduce-memory")
    plan.libraries["peft"] = PlannedLibrary("peft", "0.9.0", Location("r.txt", 1, "peft"))
    where = Location("a.yaml", 9, "fsdp_config.fsdp_use_orig_params")
    plan.add_setting(PlannedSetting("fsdp.use_orig_params", False, where))
    plan.add_setting(PlannedSetting("lora.targets", ("q_proj", "v_proj")))
    assert plan_body(plan) == {
        "techniques": [
            {"id": "qlora", "file": "c.yml", "line": 3, "key": "adapter"},
            {"id": "zero-3"},
        ],
        "scenarios": ["reduce-memory"],
        "libraries": {"peft": {"version": "0.9.0", "file": "r.txt", "line": 1, "key": "peft"}},
        "settings": {
            "fsdp.use_orig_params": {
                "value": False,
                "guessed": False,
                "file": "a.yaml",
                "line": 9,
                "key": "fsdp_config.fsdp_use_orig_params",
            },
            "lora.targets": {"value": ["q_proj", "v_proj"], "guessed": False},
        },
    }


@pytest.mark.parametrize("source", ["axolotl", "llamafactory", "accelerate"])
def test_the_corpus_in_one_invocation_per_repository(source: str) -> None:
    """Each upstream repository's configs, checked from its root as its CI would: every file
    is read or skipped, none fails, and every reference between them is followed."""
    if not (CORPUS / "MANIFEST.json").is_file():
        pytest.skip(f"no corpus at {CORPUS}")
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
    entries = {str(CORPUS / e["file"]): e for e in manifest if e["file"].startswith(f"{source}/")}
    result = check(*entries, root=CORPUS / source)
    assert result.errors == ()
    assert result.exit_code in (EXIT_OK, EXIT_FINDINGS)
    plan = body(result)["plan"]
    for skipped in plan["skipped"]:
        assert entries[skipped["file"]].get("training") is False, skipped
    messages = [n["message"] for n in plan["notes"]]
    assert [m for m in messages if "not found" in m or "outside" in m] == []


def test_a_recognised_config_with_invalid_values_is_exit_2_with_its_line(tmp_path: Path) -> None:
    axolotl = tmp_path / "train.yml"
    axolotl.write_text("base_model: m\nadapter: banana\n")
    deepspeed = tmp_path / "ds_config.json"
    deepspeed.write_text('{\n  "zero_optimization": {\n    "stage": 7\n  }\n}\n')
    result = check(axolotl, deepspeed, CONFIG, root=tmp_path)
    assert result.exit_code == EXIT_ERROR
    assert [line.split(": ")[0] for line in result.errors] == [f"{axolotl}:2", f"{deepspeed}:3"]
    assert body(result)["findings"]  # CONFIG's findings are still reported
