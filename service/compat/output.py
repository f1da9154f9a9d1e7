"""Render a plan check report for CI: text, JSON, GitHub annotations, JUnit XML, SARIF 2.1.0.

Pure functions over `rules.Report`; `ftmatrix check --format` picks one.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from typing import Any

from service.compat.findings import RULES, Finding, Report

FORMATS = ("text", "json", "github", "junit", "sarif")
INFORMATION_URI = "https://github.com/ftmatrix/ftmatrix#rules"
TEXT_EVIDENCE = 3
_FAILS = {"warn": ("error", "warning"), "fail": ("error",)}


def render(
    report: Report,
    fmt: str,
    *,
    files: Sequence[str] = (),
    source: str = "",
    fail_on: str = "warn",
    tool_version: str = "0.1.0",
) -> str:
    """The report in format `fmt` (one of FORMATS), ending with a newline."""
    if fmt == "text":
        return _text(report, source)
    if fmt == "json":
        return _json(report, source)
    if fmt == "github":
        return _github(report)
    if fmt == "junit":
        return _junit(report, fail_on)
    if fmt == "sarif":
        return _sarif(report, files, tool_version)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def _where(finding: Finding) -> str:
    first = finding.locations[0] if finding.locations else None
    if first is None:
        return "<plan>"
    return f"{first.file}:{first.line}" if first.line else first.file


def _summary(report: Report) -> Counter[str]:
    return Counter(f.severity for f in report.findings)


def _text(report: Report, source: str) -> str:
    lines: list[str] = []
    for f in report.findings:
        lines.append(f"{_where(f)}: {f.severity} {f.rule} [{RULES[f.rule].name}] {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
        for setting in f.settings:
            lines.append(f"    setting: {setting}")
        for evidence in f.evidence[:TEXT_EVIDENCE]:
            lines.append(f"    evidence: {evidence}")
        if len(f.evidence) > TEXT_EVIDENCE:
            lines.append(
                f"    evidence: (+{len(f.evidence) - TEXT_EVIDENCE} more in --format json)"
            )
    counts = _summary(report)
    where = f"data revision {report.revision}" + (f", {source}" if source else "")
    if report.findings:
        lines.append(
            f"ftmatrix: {report.verdict} - {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} note(s) ({where})"
        )
    else:
        lines.append(f"ftmatrix: {report.verdict} - no findings ({where})")
    return "\n".join(lines) + "\n"


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "name": RULES[f.rule].name,
        "severity": f.severity,
        "message": f.message,
        "techniques": list(f.techniques),
        "scenario": f.scenario,
        "evidence": list(f.evidence),
        "fix": f.fix,
        "settings": list(f.settings),
        "details": list(f.details),
        "locations": [{"file": x.file, "line": x.line, "key": x.key} for x in f.locations],
    }


def _json(report: Report, source: str) -> str:
    counts = _summary(report)
    document = {
        "verdict": report.verdict,
        "revision": report.revision,
        "source": source,
        "findings": [finding_json(f) for f in report.findings],
        "summary": {severity: counts.get(severity, 0) for severity in ("error", "warning", "info")},
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: Report) -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    command = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for f in report.findings:
        props = []
        if f.locations:
            props.append(f"file={_escape_property(f.locations[0].file)}")
            if f.locations[0].line:
                props.append(f"line={f.locations[0].line}")
        props.append(f"title={_escape_property(f'{f.rule} {RULES[f.rule].name}')}")
        body = [f.message]
        if f.fix:
            body.append(f"fix: {f.fix}")
        body += [f"evidence: {e}" for e in f.evidence[:3]]
        lines.append(
            f"::{command[f.severity]} {','.join(props)}::{_escape_data(chr(10).join(body))}"
        )
    return "".join(line + "\n" for line in lines)


def _junit(report: Report, fail_on: str) -> str:
    """One testcase per finding; those at or above `fail_on` are failures, others pass.

    Notes (info) and warnings below the threshold pass, with their message in system-out, so
    the XML agrees with the exit code.
    """
    failing = _FAILS[fail_on]
    suites = ET.Element("testsuites", name="ftmatrix")
    cases = list(report.findings)
    failures = sum(1 for f in cases if f.severity in failing)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="ftmatrix check",
        tests=str(max(len(cases), 1)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for f in cases:
        attrs = {
            "classname": f"ftmatrix.{f.rule}",
            "name": f"{RULES[f.rule].name}: {' + '.join(f.techniques) or f.scenario or 'plan'}",
        }
        if f.locations:
            attrs["file"] = f.locations[0].file
            if f.locations[0].line:
                attrs["line"] = str(f.locations[0].line)
        case = ET.SubElement(suite, "testcase", attrs)
        extra = [f"fix: {f.fix}"] if f.fix else []
        text = "\n".join([f.message, *extra, *f.details, *f.evidence])
        if f.severity in failing:
            failure = ET.SubElement(case, "failure", type=f.rule, message=f.message)
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if not cases:
        ET.SubElement(suite, "testcase", classname="ftmatrix", name="plan")
    suites.set("tests", suite.get("tests", "1"))
    suites.set("failures", str(failures))
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _sarif(report: Report, files: Sequence[str], tool_version: str) -> str:
    """SARIF 2.1.0; a finding without a location is reported against the first input file."""
    ids = list(RULES)
    level = {"error": "error", "warning": "warning", "info": "note"}
    results = []
    for f in report.findings:
        locations = [(x.file, x.line) for x in f.locations]
        if not locations and files:
            locations = [(files[0], None)]
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": ids.index(f.rule),
            "level": level[f.severity],
            "message": {"text": f.message + (f" Fix: {f.fix}" if f.fix else "")},
            "properties": {"techniques": list(f.techniques), "evidence": list(f.evidence)},
        }
        if locations:
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": file.replace("\\", "/")},
                        **({"region": {"startLine": line}} if line else {}),
                    }
                }
                for file, line in locations[:1]
            ]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ftmatrix",
                        "version": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            {
                                "id": rule_id,
                                "name": rule.name,
                                "shortDescription": {"text": rule.description},
                                "defaultConfiguration": {"level": level[rule.severity]},
                            }
                            for rule_id, rule in RULES.items()
                        ],
                    }
                },
                "results": results,
                "properties": {"verdict": report.verdict, "revision": report.revision},
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
