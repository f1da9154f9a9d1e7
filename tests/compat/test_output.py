"""The CI formats of `ftmatrix check`: what every format shares, and exact text and JSON.

GitHub annotations, JUnit and SARIF have their own modules (test_output_github, _junit,
_sarif); what was checked (the plan) is in test_output_plan.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from service.compat import formats, output
from service.compat.findings import RULES, Finding, Report
from service.compat.output import FORMATS, render
from service.detect.plan import Location
from tests.compat.outputs import (
    ACCELERATE,
    FILES,
    ISSUE,
    PEFT_DEEPSPEED,
    PEFT_RELEASE,
    SOURCE,
    fail_report,
    in_file_order,
    one,
    pass_report,
)

# --- every format


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", [fail_report, pass_report])
def test_every_format_is_deterministic(fmt: str, make: Any) -> None:
    first = render(make(), fmt, files=FILES, source=SOURCE)
    assert first == render(make(), fmt, files=FILES, source=SOURCE)
    assert first == "" or first.endswith("\n")


def rules_in_order(fmt: str, report: Report) -> list[str]:
    """The rule ids in the order format `fmt` lists the report's findings."""
    text = render(report, fmt, files=FILES, source=SOURCE)
    if fmt == "json":
        return [f["rule"] for f in json.loads(text)["findings"]]
    if fmt == "sarif":
        return [r["ruleId"] for r in json.loads(text)["runs"][0]["results"]]
    if fmt == "junit":
        root = ET.fromstring(text)  # noqa: S314  (our own output)
        return [(c.get("classname") or "").removeprefix("ftmatrix.") for c in root.iter("testcase")]
    return [rule for line in text.splitlines() for rule in RULES if f"{rule} " in line[:200]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_lists_findings_by_file_and_line_then_rule(fmt: str) -> None:
    expected = [f.rule for f in in_file_order()]
    assert rules_in_order(fmt, fail_report()) == expected
    # The report's own order does not matter.
    shuffled = Report("fail", 3, tuple(reversed(fail_report().findings)))
    assert rules_in_order(fmt, shuffled) == expected


def test_order_is_by_line_number_not_text_and_rule_breaks_ties() -> None:
    def at(rule: str, line: int | None) -> Finding:
        return Finding(
            rule, RULES[rule].severity, "m", ("a", "b"), locations=(Location("f", line),)
        )

    report = Report(
        "fail", 3, (at("FTM101", 10), at("FTM105", 9), at("FTM102", 10), at("FTM101", None))
    )
    lines = render(report, "text").splitlines()
    assert [x.split(" ")[0] for x in lines[:4]] == ["f:", "f:9:", "f:10:", "f:10:"]
    assert [x.split(" ")[2] for x in lines[:4]] == ["FTM101", "FTM105", "FTM101", "FTM102"]


def test_unknown_format_threshold_or_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(fail_report(), "xml")
    with pytest.raises(ValueError, match="fail_on"):
        render(fail_report(), "junit", fail_on="never")
    for relative in (
        "docs/rules.md",
        "ftmatrix.dev/rules",
        "file:///docs/rules.md",
        "https://x/#a",
    ):
        with pytest.raises(ValueError, match="rules_uri must be an absolute"):
            render(fail_report(), "sarif", rules_uri=relative)
    with pytest.raises(ValueError, match="information_uri"):
        render(fail_report(), "sarif", information_uri="README.md")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return found | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def test_formats_import_only_the_standard_library_and_plain_data() -> None:
    stdlib = {"__future__", "json", "math", "re", "xml.etree.ElementTree", "collections"}
    stdlib |= {"collections.abc", "pathlib", "typing", "urllib.parse"}
    ours = {"service.compat.findings", "service.detect.plan", "service.compat.formats"}
    ours |= {f"service.compat.formats.{m}" for m in ("common", "github", "junit", "sarif")}
    modules = [Path(output.__file__), *Path(formats.__file__).parent.glob("*.py")]
    assert len(modules) == 6
    for module in modules:
        assert imports(module) <= stdlib | ours, module.name


# --- text


def test_text_lists_each_finding_with_its_fix_settings_and_sources() -> None:
    expected = [
        "<plan>: warning FTM105 [pair-unknown] Nothing is known about galore + qlora.",
        "axolotl.yml: info FTM203 [scenario-unknown] Whether dora suits reduce-memory is not"
        " known.",
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
        "requirements.txt:3: error FTM102 [pair-version-unmet] peft 0.9.0 is below 0.10.0,"
        " the minimum at which qlora + zero-3 works.",
        "    fix: Pin peft>=0.10.0.",
        f"    evidence: {PEFT_RELEASE}",
        "    also: axolotl.yml:4",
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
    text = render(fail_report(), "json", files=FILES, source=SOURCE)
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert (document["verdict"], document["revision"]) == ("fail", 3)
    assert document["source"] == SOURCE
    assert document["summary"] == {"error": 1, "warning": 2, "info": 1}
    assert "plan" not in document
    expected = in_file_order()
    assert len(document["findings"]) == len(expected)
    for body, finding in zip(document["findings"], expected, strict=True):
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
