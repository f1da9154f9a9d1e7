"""Render a plan check report for CI: text, JSON, GitHub annotations, JUnit XML or SARIF 2.1.0.

`render(report, fmt, ...)` is what `ftmatrix check --format FMT` prints. Pure functions over a
`Report` (standard library only, no I/O). Every format lists findings in the report's order, and
the same report and arguments always give the same text.

How each format maps findings:

- text: one block per finding, `path:line: severity RULE [name] message` (`<plan>:` for a
  finding about the plan as a whole), then indented `fix:`, `setting:`, `detail:`, `evidence:`
  and `also:` lines; a last summary line with the verdict, the counts and the data revision.
- json: `{"verdict", "revision", "source", "findings": [...], "summary": {severity: count}}`,
  sorted keys, 2-space indent.
- github: one workflow command per finding (`::error`, `::warning`, `::notice` for info) at
  the finding's first location; a plan-wide finding has no `file`/`line`. Nothing for a
  report without findings.
- junit: one `<testcase>` per finding. A finding at or above `fail_on` is a `<failure>`; any
  other (notes, and warnings under `--fail-on fail`) is a passing test case with its text in
  `<system-out>`, because the check did run: so the failure count is non-zero exactly when the
  exit code is. Nothing is ever `<skipped>`. A report without findings gets one passing test
  case named `plan`, so the suite is never empty.
- sarif: one result per finding at its first location, the others as `relatedLocations`. A
  location without a line gets no region. A plan-wide finding is anchored to the first input
  file (without a region, and with `properties.scope` set to `plan`), because GitHub code
  scanning rejects a result without a location; with no input files it has no location.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from service.compat.findings import RULES, SEVERITIES, Finding, Report
from service.detect.plan import Location

FORMATS = ("text", "json", "github", "junit", "sarif")
THRESHOLDS = ("warn", "fail")
INFORMATION_URI = "https://github.com/ftmatrix/ftmatrix"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Text and annotations are read by people: a few sources suffice; JSON and SARIF keep them all.
EVIDENCE_SHOWN = 3

_FAILING = {"warn": ("error", "warning"), "fail": ("error",)}
_NOUN = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(
    report: Report,
    fmt: str,
    *,
    files: Sequence[str] = (),
    tool_version: str = "0.1.0",
    source: str = "",
    fail_on: str = "warn",
) -> str:
    """The report in format `fmt` (one of FORMATS), ending with a newline (github: "" if empty).

    `files` are the input files as given on the command line (SARIF anchors plan-wide findings
    to the first); `source` says where the data came from (e.g. "offline snapshot NAME" or the
    server URL) in text, JSON, JUnit and SARIF; `fail_on` is the `--fail-on` threshold ("warn"
    or "fail"), which decides the JUnit failures; `tool_version` is the SARIF driver version.
    Raises ValueError for an unknown format or threshold.
    """
    if fail_on not in _FAILING:
        raise ValueError(f"fail_on must be one of {', '.join(THRESHOLDS)}, not {fail_on!r}")
    if fmt == "text":
        return _text(report, source)
    if fmt == "json":
        return _json(report, source)
    if fmt == "github":
        return _github(report)
    if fmt == "junit":
        return _junit(report, fail_on, source)
    if fmt == "sarif":
        return _sarif(report, files, tool_version, source)
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
        "locations": [{"file": x.file, "line": x.line, "key": x.key} for x in finding.locations],
    }


def summary(report: Report) -> dict[str, int]:
    """How many findings of each severity (every severity present, zero or not)."""
    counts = Counter(f.severity for f in report.findings)
    return {severity: counts[severity] for severity in SEVERITIES}


# --- shared pieces


def _line(location: Location) -> int | None:
    # Locations are 1-based; anything else is as good as unknown.
    return location.line if location.line is not None and location.line >= 1 else None


def _place(location: Location) -> str:
    line = _line(location)
    return f"{location.file}:{line}" if line is not None else location.file


def _one_line(text: str) -> str:
    # A stray newline would start what looks like a new finding in a line-based log.
    return " ".join(text.splitlines())


def _extras(finding: Finding, evidence_shown: int | None) -> list[tuple[str, str]]:
    """The labelled lines shown under a finding's message, in reading order."""
    extras = [("fix", finding.fix)] if finding.fix else []
    extras += [("setting", s) for s in finding.settings]
    extras += [("detail", d) for d in finding.details]
    shown = finding.evidence[:evidence_shown] if evidence_shown else finding.evidence
    extras += [("evidence", e) for e in shown]
    if len(finding.evidence) > len(shown):
        extras.append(("evidence", f"+{len(finding.evidence) - len(shown)} more in --format json"))
    extras += [("also", _place(x)) for x in finding.locations[1:]]
    return extras


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- text and JSON


def _text(report: Report, source: str) -> str:
    lines: list[str] = []
    for f in report.findings:
        where = _place(f.locations[0]) if f.locations else "<plan>"
        name = RULES[f.rule].name
        lines.append(f"{where}: {f.severity} {f.rule} [{name}] {_one_line(f.message)}")
        lines += [f"    {label}: {_one_line(value)}" for label, value in _extras(f, EVIDENCE_SHOWN)]
    data = f"data revision {report.revision}" + (f", {source}" if source else "")
    if report.findings:
        counts = ", ".join(_plural(n, _NOUN[s]) for s, n in summary(report).items())
        lines.append(f"ftmatrix: {report.verdict} — {counts} ({data})")
    else:
        lines.append(f"ftmatrix: {report.verdict} — no findings ({data})")
    return "\n".join(lines) + "\n"


def _json(report: Report, source: str) -> str:
    document = {
        "verdict": report.verdict,
        "revision": report.revision,
        "source": source,
        "findings": [finding_json(f) for f in report.findings],
        "summary": summary(report),
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- GitHub Actions workflow commands


def _escape_data(text: str) -> str:
    # As @actions/core escapes a command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # As @actions/core escapes a property value: `:` and `,` would end it early.
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: Report) -> str:
    lines = []
    for f in report.findings:
        properties = []
        if f.locations:
            first = f.locations[0]
            properties.append(f"file={_escape_property(first.file)}")
            if _line(first) is not None:
                properties.append(f"line={_line(first)}")
        properties.append(f"title={_escape_property(f'{f.rule} {RULES[f.rule].name}')}")
        body = [f.message] + [f"{label}: {v}" for label, v in _extras(f, EVIDENCE_SHOWN)]
        command = _GITHUB_COMMAND[f.severity]
        lines.append(f"::{command} {','.join(properties)}::{_escape_data(chr(10).join(body))}")
    return "".join(line + "\n" for line in lines)


# --- JUnit XML


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case_name(finding: Finding) -> str:
    subject = " + ".join(finding.techniques) or "plan"
    if finding.scenario:
        subject += f" for {finding.scenario}"
    return f"{RULES[finding.rule].name}: {subject}"


def _junit(report: Report, fail_on: str, source: str) -> str:
    failing = _FAILING[fail_on]
    tests = str(max(len(report.findings), 1))
    failures = str(sum(1 for f in report.findings if f.severity in failing))
    counts = {"tests": tests, "failures": failures, "errors": "0"}
    suites = ET.Element("testsuites", {"name": "ftmatrix", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "ftmatrix check", **counts, "skipped": "0"})
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.verdict),
        ("revision", str(report.revision)),
        ("source", source),
        ("fail-on", fail_on),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _xml(value)})
    seen: Counter[tuple[str, str]] = Counter()
    for f in report.findings:
        classname, name = f"ftmatrix.{f.rule}", _case_name(f)
        # Consumers merge test cases of the same name, so a repeat gets a number.
        seen[classname, name] += 1
        if seen[classname, name] > 1:
            name += f" #{seen[classname, name]}"
        attributes = {"classname": classname, "name": _xml(name)}
        if f.locations:
            attributes["file"] = _xml(f.locations[0].file)
            if _line(f.locations[0]) is not None:
                attributes["line"] = str(_line(f.locations[0]))
        case = ET.SubElement(suite, "testcase", attributes)
        text = _xml("\n".join([f.message] + [f"{k}: {v}" for k, v in _extras(f, None)]))
        if f.severity in failing:
            failure = ET.SubElement(case, "failure", {"type": f.rule, "message": _xml(f.message)})
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if not report.findings:
        ET.SubElement(suite, "testcase", {"classname": "ftmatrix", "name": "plan"})
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


# --- SARIF 2.1.0


def _uri(path: str) -> str:
    """A path as SARIF wants it: relative stays relative, with `/`; absolute becomes file:."""
    windows = PureWindowsPath(path)
    if windows.is_absolute():
        return windows.as_uri()
    if path.startswith("/"):
        return PurePosixPath(path).as_uri()
    relative = path.replace("\\", "/")
    while relative.startswith("./"):
        relative = relative[2:]
    # Quoting `:` too keeps a relative path such as `a:b.yml` from reading as a URI scheme.
    return quote(relative, safe="/")


def _sarif_location(location: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(location.file)}}
    line = _line(location)
    if line is not None:
        physical["region"] = {"startLine": line}
    result: dict[str, Any] = {"physicalLocation": physical}
    if location.key:
        result["message"] = {"text": location.key}
    return result


def _sarif_result(finding: Finding, index: int, files: Sequence[str]) -> dict[str, Any]:
    fix = f" Fix: {finding.fix}" if finding.fix else ""
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message + fix},
    }
    if finding.locations:
        result["locations"] = [_sarif_location(finding.locations[0])]
        if len(finding.locations) > 1:
            result["relatedLocations"] = [
                {"id": n, **_sarif_location(x)} for n, x in enumerate(finding.locations[1:], 1)
            ]
    elif files:
        result["locations"] = [_sarif_location(Location(files[0]))]
    properties: dict[str, Any] = {
        "techniques": list(finding.techniques),
        "evidence": list(finding.evidence),
    }
    if finding.fix:
        properties["fix"] = finding.fix
    if finding.scenario:
        properties["scenario"] = finding.scenario
    if finding.settings:
        properties["settings"] = list(finding.settings)
    if finding.details:
        properties["details"] = list(finding.details)
    if not finding.locations:
        properties["scope"] = "plan"
    result["properties"] = properties
    return result


def _sarif(report: Report, files: Sequence[str], tool_version: str, source: str) -> str:
    index = {rule_id: n for n, rule_id in enumerate(RULES)}
    rules = [
        {
            "id": rule_id,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        }
        for rule_id, rule in RULES.items()
    ]
    run_properties: dict[str, Any] = {"verdict": report.verdict, "revision": report.revision}
    if source:
        run_properties["source"] = source
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ftmatrix",
                        "version": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "results": [_sarif_result(f, index[f.rule], files) for f in report.findings],
                "properties": run_properties,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
