"""SARIF 2.1.0 for code scanning, passing the SARIF Multitool's `Sarif` and GitHub rules.

One result per finding at its first location, the others as `relatedLocations`. A location
without a line gets no region (the Multitool's SARIF2017 warns about those; inventing a line
would be worse). A plan-wide finding is anchored to the first input file (without a region, and
with `properties.scope` set to `plan`), because GitHub code scanning rejects a result without a
location; with no input files it has no location.

Every rule carries `shortDescription`, `fullDescription`, `help` (text and Markdown) and a
`helpUri` into docs/rules.md, which GitHub requires of a rule (Multitool rule GH2012); the
driver's `informationUri` and the rules' `helpUri` must be absolute (SARIF1005). The run's
`properties.plan` says what was checked (`common.plan_json`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from service.compat.findings import RULES, Finding, Report, Rule
from service.compat.formats.common import Skipped, line, ordered, plan_json, rule_uri
from service.detect.plan import Location, Plan

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def uri(path: str) -> str:
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


def _location(location: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri(location.file)}}
    found = line(location)
    if found is not None:
        physical["region"] = {"startLine": found}
    result: dict[str, Any] = {"physicalLocation": physical}
    if location.key:
        result["message"] = {"text": location.key}
    return result


def _result(finding: Finding, index: int, files: Sequence[str]) -> dict[str, Any]:
    fix = f" Fix: {finding.fix}" if finding.fix else ""
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVEL[finding.severity],
        "message": {"text": finding.message + fix},
    }
    if finding.locations:
        result["locations"] = [_location(finding.locations[0])]
        if len(finding.locations) > 1:
            result["relatedLocations"] = [
                {"id": n, **_location(x)} for n, x in enumerate(finding.locations[1:], 1)
            ]
    elif files:
        result["locations"] = [_location(Location(files[0]))]
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


def _rule(rule_id: str, rule: Rule, rules_uri: str) -> dict[str, Any]:
    help_uri = rule_uri(rule_id, rules_uri)
    full = rule.full_description or rule.description
    advice = rule.help or rule.description
    return {
        "id": rule_id,
        "name": rule.name,
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": full},
        "help": {
            "text": f"{full} {advice} See {help_uri}",
            "markdown": f"{full}\n\n{advice}\n\nSee [{rule_id} in the rules]({help_uri}).",
        },
        "helpUri": help_uri,
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
    }


def render_sarif(
    report: Report,
    *,
    files: Sequence[str],
    tool_version: str,
    source: str,
    plan: Plan | None,
    skipped: Skipped,
    rules_uri: str,
    information_uri: str,
) -> str:
    """The report as a SARIF 2.1.0 log (one run), 2-space indent, ending with a newline."""
    index = {rule_id: n for n, rule_id in enumerate(RULES)}
    run_properties: dict[str, Any] = {"verdict": report.verdict, "revision": report.revision}
    if source:
        run_properties["source"] = source
    if plan is not None or skipped:
        run_properties["plan"] = plan_json(plan, skipped)
    driver = {
        "name": "ftmatrix",
        "fullName": f"ftmatrix check {tool_version}",
        "version": tool_version,
        "informationUri": information_uri,
        "rules": [_rule(rule_id, rule, rules_uri) for rule_id, rule in RULES.items()],
    }
    findings = ordered(report.findings)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "results": [_result(f, index[f.rule], files) for f in findings],
                "properties": run_properties,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
