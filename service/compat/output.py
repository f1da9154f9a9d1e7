"""Render a plan check report for CI: text, JSON, GitHub annotations, JUnit XML or SARIF 2.1.0.

`render(report, fmt, ...)` is what `ftmatrix check --format FMT` prints; `step_summary(...)`
the Markdown it appends to `$GITHUB_STEP_SUMMARY`. Pure functions over a `Report` (standard
library only, no I/O); the same report and arguments always give the same text.

Every format lists findings by file and line of their first location, then rule (plan-wide
findings first), whatever the report's order. Given the detected `plan` (and the `skipped`
files), every format also says what was checked: a `plan` object in JSON, a "checked:" block
in text, a log group in github, properties in JUnit, run properties in SARIF. Without them
the output is what it was before plans were reported.

How each format maps findings:

- text: one block per finding, `path:line: severity RULE [name] message` (`<plan>:` for a
  finding about the plan as a whole), then indented `fix:`, `setting:`, `detail:`, `evidence:`
  and `also:` lines; then the "checked:" block; a last summary line with the verdict, the
  counts and the data revision.
- json: `{"verdict", "revision", "source", "findings": [...], "summary": {severity: count}}`
  plus `"plan"` when given, sorted keys, 2-space indent.
- github, junit, sarif: see `service.compat.formats.github`, `.junit` and `.sarif`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from service.compat.findings import RULES, Finding, Report
from service.compat.formats.common import (
    EVIDENCE_SHOWN,
    INFORMATION_URI,
    RULES_URI,
    THRESHOLDS,
    Skipped,
    absolute_uri,
    counts,
    counts_text,
    extras,
    failing,
    location_json,
    one_line,
    ordered,
    plan_heading,
    plan_json,
    plan_lines,
    where,
)
from service.compat.formats.github import render_github, step_summary
from service.compat.formats.junit import render_junit
from service.compat.formats.sarif import SARIF_SCHEMA, render_sarif
from service.detect.plan import Plan

__all__ = [
    "EVIDENCE_SHOWN",
    "FORMATS",
    "INFORMATION_URI",
    "RULES_URI",
    "SARIF_SCHEMA",
    "THRESHOLDS",
    "finding_json",
    "render",
    "step_summary",
    "summary",
]

FORMATS = ("text", "json", "github", "junit", "sarif")


def render(
    report: Report,
    fmt: str,
    *,
    files: Sequence[str] = (),
    tool_version: str = "0.1.0",
    source: str = "",
    fail_on: str = "warn",
    plan: Plan | None = None,
    skipped: Skipped = (),
    rules_uri: str = RULES_URI,
    information_uri: str = INFORMATION_URI,
) -> str:
    """The report in format `fmt` (one of FORMATS), ending with a newline (github: "" if empty).

    `files` are the input files as given on the command line (SARIF anchors plan-wide findings
    to the first); `source` says where the data came from (e.g. "offline snapshot NAME" or the
    server URL) in text, JSON, JUnit and SARIF; `fail_on` is the `--fail-on` threshold ("warn"
    or "fail"), which decides the JUnit failures; `tool_version` is the SARIF driver version.
    `plan` is the plan the check ran on, as detected from the files, and `skipped` the input
    files not read, as (file, reason): both are reported as what was checked. `rules_uri` is
    the absolute address of docs/rules.md as published (SARIF `helpUri` is it plus `#` and the
    lower-case rule id) and `information_uri` the SARIF driver's `informationUri`.
    Raises ValueError for an unknown format or threshold, or a URI that is not absolute.
    """
    failing(fail_on)
    absolute_uri(rules_uri, "rules_uri")
    absolute_uri(information_uri, "information_uri")
    if fmt == "text":
        return _text(report, source, plan, skipped)
    if fmt == "json":
        return _json(report, source, plan, skipped)
    if fmt == "github":
        return render_github(report, plan=plan, skipped=skipped)
    if fmt == "junit":
        return render_junit(report, fail_on=fail_on, source=source, plan=plan, skipped=skipped)
    if fmt == "sarif":
        return render_sarif(
            report,
            files=files,
            tool_version=tool_version,
            source=source,
            plan=plan,
            skipped=skipped,
            rules_uri=rules_uri,
            information_uri=information_uri,
        )
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding as a JSON object: every field, plus the rule's name."""
    return {
        "rule": finding.rule,
        "name": RULES[finding.rule].name,
        "severity": finding.severity,
        "message": finding.message,
        "techniques": list(finding.techniques),
        "scenario": finding.scenario,
        "evidence": list(finding.evidence),
        "fix": finding.fix,
        "settings": list(finding.settings),
        "details": list(finding.details),
        "locations": [location_json(x) for x in finding.locations],
    }


def summary(report: Report) -> dict[str, int]:
    """How many findings of each severity (every severity present, zero or not)."""
    return counts(report)


def _text(report: Report, source: str, plan: Plan | None, skipped: Skipped) -> str:
    lines: list[str] = []
    for f in ordered(report.findings):
        name = RULES[f.rule].name
        lines.append(f"{where(f)}: {f.severity} {f.rule} [{name}] {one_line(f.message)}")
        lines += [f"    {label}: {one_line(value)}" for label, value in extras(f, EVIDENCE_SHOWN)]
    if plan is not None or skipped:
        lines.append(f"checked: {plan_heading(plan, skipped)}")
        lines += [f"    {item}" for item in plan_lines(plan, skipped)]
    data = f"data revision {report.revision}" + (f", {source}" if source else "")
    lines.append(f"ftmatrix: {report.verdict} — {counts_text(report)} ({data})")
    return "\n".join(lines) + "\n"


def _json(report: Report, source: str, plan: Plan | None, skipped: Skipped) -> str:
    document: dict[str, Any] = {
        "verdict": report.verdict,
        "revision": report.revision,
        "source": source,
        "findings": [finding_json(f) for f in ordered(report.findings)],
        "summary": counts(report),
    }
    if plan is not None or skipped:
        document["plan"] = plan_json(plan, skipped)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
