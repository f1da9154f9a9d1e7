"""JUnit XML as its readers see it: the structure Jenkins, GitLab and GitHub test reporters rely
on, and junitparser (a JUnit reader, a dev dependency) reading counts, cases and failures back.

No JUnit schema ships in a package we can install here, and none is copied into this repo.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

import junitparser
import pytest

from service.compat.findings import Finding, Report
from service.compat.formats.junit import case_name
from service.compat.output import render
from service.compat.rules import Threshold, fail_on
from service.detect.plan import Location
from tests.compat.outputs import (
    FILES,
    ISSUE,
    PEFT_RELEASE,
    SKIPPED,
    SOURCE,
    caveats_finding,
    detected_plan,
    fail_report,
    in_file_order,
    pass_report,
    version_finding,
)

THRESHOLDS: tuple[Threshold, ...] = ("warn", "fail")
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


def junit(report: Report, threshold: str = "warn") -> ET.Element:
    text = render(report, "junit", files=FILES, source=SOURCE, fail_on=threshold)
    check_junit_structure(text)
    return ET.fromstring(text)  # noqa: S314  (our own output)


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
    unknown, note, caveats, version = cases(root)
    assert version.attrib == {
        "classname": "ftmatrix.FTM102",
        "name": "FTM102 pair-version-unmet at requirements.txt:3: qlora + zero-3",
        "file": "requirements.txt",
        "line": "3",
    }
    failure = version.find("failure")
    assert failure is not None
    assert failure.attrib == {
        "type": "FTM102",
        "message": f"requirements.txt:3: {version_finding().message}",
    }
    assert (failure.text or "").splitlines() == [
        f"requirements.txt:3: error FTM102 [pair-version-unmet] {version_finding().message}",
        "fix: Pin peft>=0.10.0.",
        f"evidence: {PEFT_RELEASE}",
        "also: axolotl.yml:4",
    ]
    # JUnit is a file, not a log: every source is kept.
    assert f"evidence: {ISSUE}2" in (caveats.findtext("failure") or "")
    assert unknown.attrib == {
        "classname": "ftmatrix.FTM105",
        "name": "FTM105 pair-unknown at <plan>: galore + qlora",
    }
    assert (unknown.findtext("failure") or "").startswith("<plan>: warning FTM105")
    assert note.attrib["name"] == "FTM203 scenario-unknown at axolotl.yml: dora for reduce-memory"
    assert (note.attrib["file"], "line" in note.attrib) == ("axolotl.yml", False)
    assert note.find("failure") is None
    assert note.findtext("system-out") == (
        "axolotl.yml: info FTM203 [scenario-unknown] Whether dora suits reduce-memory is not known."
    )


def test_junit_passes_warnings_at_fail_on_fail() -> None:
    root = junit(fail_report(), "fail")
    assert root.get("failures") == "1"
    failing = [c.get("classname") for c in cases(root) if c.find("failure") is not None]
    assert failing == ["ftmatrix.FTM102"]
    assert all(c.find("system-out") is not None for c in cases(root)[:3])


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


def test_case_names_stay_put_when_other_findings_come_and_go() -> None:
    alone = {case_name(f) for f in fail_report().findings[:1]}
    together = {c.get("name") for c in cases(junit(fail_report()))}
    assert alone <= together
    names = [c.get("name") for c in cases(junit(fail_report()))]
    assert len(set(names)) == len(names)


def test_junit_survives_hostile_text_and_numbers_names_that_still_repeat() -> None:
    hostile = Finding(
        "FTM102",
        "error",
        'peft <0.10 & "old"\nsecond line \x00\x1b',
        ("qlora", "zero-3"),
        locations=(Location("requirements.txt", 3),),
    )
    first, second = cases(junit(Report("fail", 3, (version_finding(), hostile))))
    assert first.get("name") == "FTM102 pair-version-unmet at requirements.txt:3: qlora + zero-3"
    assert second.get("name") == first.get("name", "") + " #2"
    failure = second.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        'requirements.txt:3: peft <0.10 & "old" second line \ufffd\ufffd'
    )
    odd = Finding("FTM101", "error", "m", ("a", "b"), locations=(Location("dir/<a&b>.txt", 2),))
    (case,) = cases(junit(Report("fail", 3, (odd,))))
    assert case.get("file") == "dir/<a&b>.txt"


# --- junitparser, a JUnit reader, reads it back


def read(report: Report, threshold: str = "warn") -> junitparser.TestSuite:
    text = render(report, "junit", files=FILES, source=SOURCE, fail_on=threshold)
    xml = junitparser.JUnitXml.fromstring(text)
    (suite,) = list(xml)
    return suite


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_junitparser_reads_counts_that_match_the_cases(threshold: str) -> None:
    for report in (fail_report(), pass_report()):
        suite = read(report, threshold)
        found = list(suite)
        assert suite.tests == len(found)
        assert suite.failures == sum(1 for case in found if case.is_failure)
        assert suite.errors == sum(1 for case in found if case.is_error) == 0
        assert suite.skipped == sum(1 for case in found if case.is_skipped) == 0
        xml = junitparser.JUnitXml.fromstring(
            render(report, "junit", source=SOURCE, fail_on=threshold)
        )
        assert (xml.tests, xml.failures, xml.errors) == (
            suite.tests,
            suite.failures,
            suite.errors,
        )


def test_junitparser_sees_each_finding_with_its_place_and_result() -> None:
    suite = read(fail_report())
    found = list(suite)
    assert [case.classname for case in found] == [f"ftmatrix.{f.rule}" for f in in_file_order()]
    for case, finding in zip(found, in_file_order(), strict=True):
        assert case.name == case_name(finding)
        if finding.severity == "info":
            assert case.is_passed
            assert case.system_out is not None
            assert finding.message in case.system_out
            continue
        assert case.is_failure
        (result,) = case.result
        assert isinstance(result, junitparser.Failure)
        assert result.type == finding.rule
        place = (
            f"{finding.locations[0].file}:{finding.locations[0].line}"
            if finding.locations
            else "<plan>"
        )
        assert result.message == f"{place}: {finding.message}"
        assert (result.text or "").startswith(f"{place}: {finding.severity} {finding.rule} ")


def test_junitparser_reads_what_was_checked_from_the_properties() -> None:
    text = render(fail_report(), "junit", plan=detected_plan(), skipped=SKIPPED)
    (suite,) = list(junitparser.JUnitXml.fromstring(text))
    # junitparser leaves properties() unannotated.
    found = {p.name: p.value for p in suite.properties()}  # type: ignore[no-untyped-call]
    assert found["technique.zero-3"] == "ds_z3.json:3: zero_optimization.stage: 3"
    assert found["skipped.1"] == "docker-compose.yml: not a training config"
