"""The SARIF we emit, judged by the SARIF Multitool (`validate --rule-kind "Sarif;Gh"`): the
SARIF SDK's own rules plus the GitHub code scanning ones. Not one error-level result.

The Multitool ships on npm as @microsoft/sarif-multitool, a Node wrapper around a native .NET
binary in @microsoft/sarif-multitool-<platform>. The test runs that binary directly, because the
wrapper hands its arguments to a shell, which splits "Sarif;Gh" at the `;`. It is found through
$SARIF_MULTITOOL (the binary's path), a `node_modules` in the checkout, or `sarif-multitool` on
PATH; without any of them the test is skipped, saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service.compat.findings import RULES, Finding, Report
from service.compat.output import render
from service.detect.plan import Location
from tests.compat.outputs import (
    FILES,
    SKIPPED,
    SOURCE,
    detected_plan,
    fail_report,
    pass_report,
)

ROOT = Path(__file__).resolve().parents[2]
INSTALL = (
    "npm install --prefix /tmp/sarif @microsoft/sarif-multitool@5.7.0 && export"
    " SARIF_MULTITOOL=/tmp/sarif/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
)
# Notes the Multitool always has for us, and why they stay:
ACCEPTED_NOTES = {
    # Messages are plain text, not message ids with arguments: readers show text as is.
    ("SARIF2002", "Note_Default"),
    # No versionControlProvenance: the CLI is not told the commit; upload-sarif adds it.
    ("SARIF2003", "Note_Default"),
    # URIs checked with an HTTP GET; there is no network where the tests run.
    ("SARIF2006", "Note_Default"),
    # No snippets or context regions: the formats do not read the files they report on.
    ("SARIF2010", "Note_Default"),
    ("SARIF2011", "Note_Default"),
    # Rule names are the kebab-case names of the README and every other format.
    ("SARIF2012", "Note_FriendlyNameNotAPascalIdentifier"),
}


def _binary_name() -> str:
    return "Sarif.Multitool.exe" if sys.platform == "win32" else "Sarif.Multitool"


def multitool() -> Path | None:
    """The native Multitool binary, wherever an npm install of it put it; None if absent."""
    if os.environ.get("SARIF_MULTITOOL"):
        return Path(os.environ["SARIF_MULTITOOL"])
    package = f"sarif-multitool-{sys.platform}"
    candidates = [ROOT / "node_modules" / "@microsoft" / package / _binary_name()]
    wrapper = shutil.which("sarif-multitool")
    if wrapper:
        # .bin/sarif-multitool -> @microsoft/sarif-multitool/bin.js; the binary is a sibling.
        scope = Path(wrapper).resolve().parent.parent
        candidates.append(scope / package / _binary_name())
    return next((c for c in candidates if c.is_file()), None)


def every_rule_once() -> Report:
    findings = tuple(
        Finding(
            rule_id,
            rule.severity,
            f"A finding of {rule.name}.",
            ("qlora", "zero-3"),
            locations=(Location("axolotl.yml", n + 1, "adapter"),),
        )
        for n, (rule_id, rule) in enumerate(RULES.items())
    )
    return Report("fail", 3, findings)


def validate(tmp_path: Path, reports: dict[str, str]) -> list[dict[str, Any]]:
    """Run the Multitool over the SARIF texts (by file name); its results, all levels."""
    binary = multitool()
    if binary is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: a missing one is a failure
            pytest.fail(f"the SARIF Multitool is required in CI: {INSTALL}")
        pytest.skip(f"the SARIF Multitool is not installed; to run this test: {INSTALL}")
    for name, text in reports.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    log = tmp_path / "multitool.sarif"
    command = [str(binary), "validate", "--rule-kind", "Sarif;Gh"]
    command += ["--level", "Error;Warning;Note", "--output", str(log), *reports]
    # Invariant globalization: the .NET binary then needs no ICU library on the machine.
    env = {**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = json.loads(log.read_text(encoding="utf-8"))["runs"]
    for invocation in run.get("invocations", []):
        assert invocation.get("executionSuccessful") is True, invocation
        for key in ("toolExecutionNotifications", "toolConfigurationNotifications"):
            problems = [n for n in invocation.get(key, []) if n.get("level") == "error"]
            assert not problems, problems
    results: list[dict[str, Any]] = run["results"]
    return results


def target(result: dict[str, Any]) -> str:
    uri: str = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    return uri.rsplit("/", 1)[-1]


def test_the_multitool_finds_no_error_and_only_known_warnings(tmp_path: Path) -> None:
    reports = {
        "checked.sarif": render(
            fail_report(), "sarif", files=FILES, source=SOURCE, plan=detected_plan(),
            skipped=SKIPPED,
        ),
        "passed.sarif": render(pass_report(), "sarif", files=FILES, source=SOURCE),
        "rules.sarif": render(every_rule_once(), "sarif", files=FILES, source=SOURCE),
    }  # fmt: skip
    results = validate(tmp_path, reports)
    assert {target(r) for r in results} <= set(reports)
    levels = Counter(r.get("level", "warning") for r in results)
    errors = [r["message"] for r in results if r.get("level", "warning") == "error"]
    assert not errors, errors
    # The only warning: a location with no line has no region (SARIF2017). fail_report has two
    # such findings: one about the plan as a whole, one whose location has no line.
    warnings = [r for r in results if r.get("level", "warning") == "warning"]
    assert [(r["ruleId"], target(r)) for r in warnings] == [("SARIF2017", "checked.sarif")] * 2
    notes = {(r["ruleId"], r["message"].get("id")) for r in results if r.get("level") == "note"}
    assert notes <= ACCEPTED_NOTES, notes - ACCEPTED_NOTES
    assert levels["note"] > 0  # the run did report at note level, so the filter saw them


def test_the_multitool_is_a_real_judge(tmp_path: Path) -> None:
    """The same log with the rules' help removed is refused: the test can fail."""
    document = json.loads(render(fail_report(), "sarif", files=FILES, source=SOURCE))
    for rule in document["runs"][0]["tool"]["driver"]["rules"]:
        del rule["help"], rule["fullDescription"], rule["helpUri"]
    results = validate(tmp_path, {"bare.sarif": json.dumps(document)})
    errors = {r["ruleId"] for r in results if r.get("level", "warning") == "error"}
    assert errors == {"GH2012"}
    notes = {(r["ruleId"], r["message"].get("id")) for r in results if r.get("level") == "note"}
    assert ("SARIF2012", "Note_ProvideHelpUri") in notes
