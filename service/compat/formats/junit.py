"""JUnit XML for CI test reporters (Jenkins, GitLab, GitHub test-report actions).

One `<testcase>` per finding, named by rule, place and subject, e.g.
`FTM102 pair-version-unmet at requirements.txt:3: qlora + zero-3`, so a finding keeps its
name from run to run whatever else is found (readers track a case's history by its name).
Should two findings still share a name, the later ones get ` #2`, ` #3`, in file/line order.

A finding at or above `fail_on` is a `<failure>` whose message and text begin with its
`file:line`; any other (notes, and warnings under `--fail-on fail`) is a passing test case with
its text in `<system-out>`, because the check did run: so the failure count is non-zero
exactly when the exit code is. Nothing is ever `<skipped>`. A report without findings gets one
passing test case named `plan`, so the suite is never empty. The suite's properties hold the
verdict, revision, source and threshold, then what was checked (`common.plan_properties`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from service.compat.findings import RULES, Finding, Report
from service.compat.formats.common import (
    Skipped,
    extras,
    failing,
    line,
    one_line,
    ordered,
    plan_properties,
    where,
)
from service.detect.plan import Plan

# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def case_name(finding: Finding) -> str:
    """The test case's name: rule id and name, the place, then what the finding is about."""
    subject = " + ".join(finding.techniques) or "plan"
    if finding.scenario:
        subject += f" for {finding.scenario}"
    return f"{finding.rule} {RULES[finding.rule].name} at {where(finding)}: {subject}"


def render_junit(
    report: Report, *, fail_on: str, source: str, plan: Plan | None, skipped: Skipped
) -> str:
    """The report as a JUnit XML document (`<testsuites>` with one suite), ending with a newline.

    Raises ValueError for an unknown `fail_on`.
    """
    severities = failing(fail_on)
    findings = ordered(report.findings)
    tests = str(max(len(findings), 1))
    failures = str(sum(1 for f in findings if f.severity in severities))
    totals = {"tests": tests, "failures": failures, "errors": "0"}
    suites = ET.Element("testsuites", {"name": "ftmatrix", **totals})
    suite = ET.SubElement(suites, "testsuite", {"name": "ftmatrix check", **totals, "skipped": "0"})
    properties = ET.SubElement(suite, "properties")
    pairs = [
        ("verdict", report.verdict),
        ("revision", str(report.revision)),
        ("source", source),
        ("fail-on", fail_on),
    ]
    if plan is not None or skipped:
        pairs += plan_properties(plan, skipped)
    for name, value in pairs:
        ET.SubElement(properties, "property", {"name": _xml(name), "value": _xml(value)})
    seen: Counter[str] = Counter()
    for f in findings:
        name = case_name(f)
        seen[name] += 1
        if seen[name] > 1:
            name += f" #{seen[name]}"
        attributes = {"classname": f"ftmatrix.{f.rule}", "name": _xml(name)}
        if f.locations:
            attributes["file"] = _xml(f.locations[0].file)
            if line(f.locations[0]) is not None:
                attributes["line"] = str(line(f.locations[0]))
        case = ET.SubElement(suite, "testcase", attributes)
        headline = f"{where(f)}: {one_line(f.message)}"
        body = [f"{where(f)}: {f.severity} {f.rule} [{RULES[f.rule].name}] {f.message}"]
        body += [f"{label}: {value}" for label, value in extras(f, None)]
        text = _xml("\n".join(body))
        if f.severity in severities:
            failure = ET.SubElement(case, "failure", {"type": f.rule, "message": _xml(headline)})
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if not findings:
        ET.SubElement(suite, "testcase", {"classname": "ftmatrix", "name": "plan"})
    ET.indent(suites)
    document = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{document}\n'
