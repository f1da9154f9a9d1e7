"""GitHub Actions: workflow-command annotations for the log, and a Markdown step summary.

Annotations: one workflow command per finding (`::error`, `::warning`, `::notice` for info) at
its first location; a plan-wide finding has no `file`/`line`. GitHub shows at most
ANNOTATIONS_PER_KIND annotations of each kind per step (actions/toolkit, docs/problem-matchers.md,
"Limitations"), so when a kind has more, one summary annotation says how many were not
annotated (it takes a slot of the most severe kind that overflows), and those findings are
printed as plain log lines instead, so the log still lists every one. Given the plan, a
collapsed `::group::` lists what was checked. Nothing at all for a report without findings
and without a plan.

Every plain line printed starts with a fixed word, never with `::`, so text taken from a
config file cannot pass for a workflow command.

`step_summary` is the Markdown the CLI appends to `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

from collections import Counter

from service.compat.findings import RULES, SEVERITIES, Finding, Report
from service.compat.formats.common import (
    EVIDENCE_SHOWN,
    NOUN,
    RULES_URI,
    Skipped,
    counts_text,
    extras,
    failing,
    line,
    one_line,
    ordered,
    plan_heading,
    plan_lines,
    plural,
    rule_uri,
    where,
)
from service.detect.plan import Plan

ANNOTATIONS_PER_KIND = 10
_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
# A step summary over 1024 KiB is refused as a whole by the runner; these caps keep ours small.
_CELL_CHARS = 300
_PLAN_LINES = 200


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core escapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: `:` and `,` would end it early."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(finding: Finding) -> str:
    properties = []
    if finding.locations:
        first = finding.locations[0]
        properties.append(f"file={escape_property(first.file)}")
        if line(first) is not None:
            properties.append(f"line={line(first)}")
    properties.append(f"title={escape_property(f'{finding.rule} {RULES[finding.rule].name}')}")
    body = [finding.message] + [f"{k}: {v}" for k, v in extras(finding, EVIDENCE_SHOWN)]
    command = _COMMAND[finding.severity]
    return f"::{command} {','.join(properties)}::{escape_data(chr(10).join(body))}"


def _log_line(finding: Finding) -> str:
    name = RULES[finding.rule].name
    text = f"{where(finding)}: {finding.severity} {finding.rule} [{name}] {finding.message}"
    return "ftmatrix: " + one_line(text)


def render_github(report: Report, *, plan: Plan | None, skipped: Skipped) -> str:
    """Workflow commands for the report (see the module), one per line; "" when empty."""
    findings = ordered(report.findings)
    per_kind = Counter(f.severity for f in findings)
    overflowing = [s for s in SEVERITIES if per_kind[s] > ANNOTATIONS_PER_KIND]
    budget = dict.fromkeys(SEVERITIES, ANNOTATIONS_PER_KIND)
    if overflowing:
        budget[overflowing[0]] -= 1
    annotated: Counter[str] = Counter()
    lines: list[str] = []
    left: list[Finding] = []
    for f in findings:
        if annotated[f.severity] < budget[f.severity]:
            annotated[f.severity] += 1
            lines.append(_annotation(f))
        else:
            left.append(f)
    if left:
        by_kind = Counter(f.severity for f in left)
        listing = ", ".join(plural(by_kind[s], NOUN[s]) for s in SEVERITIES if by_kind[s])
        title = f"ftmatrix: {plural(len(left), 'finding')} not annotated"
        message = (
            f"GitHub shows {ANNOTATIONS_PER_KIND} annotations of each kind per step, so {listing}"
            " more are listed in this step's log only (ftmatrix check --format json lists all)."
        )
        command = _COMMAND[overflowing[0]]
        lines.insert(0, f"::{command} title={escape_property(title)}::{escape_data(message)}")
        lines += [_log_line(f) for f in left]
    if plan is not None or skipped:
        lines.append(f"::group::{escape_data(f'ftmatrix checked {plan_heading(plan, skipped)}')}")
        lines += [f"checked {item}" for item in plan_lines(plan, skipped)]
        lines.append("::endgroup::")
    return "".join(x + "\n" for x in lines)


# --- the step summary


def _md(text: str, limit: int | None = None) -> str:
    """Plain text made safe inside a Markdown table cell or list item, at most `limit` chars."""
    text = one_line(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace(">", "&gt;")
    for mark in "`*_[]|~":
        text = text.replace(mark, "\\" + mark)
    return text


def _row(finding: Finding, rules_uri: str) -> str:
    rule = f"[{finding.rule}]({rule_uri(finding.rule, rules_uri)}) {RULES[finding.rule].name}"
    parts = [_md(finding.message, _CELL_CHARS)]
    if finding.fix:
        parts.append("fix: " + _md(finding.fix, _CELL_CHARS))
    parts += ["setting: " + _md(s, _CELL_CHARS) for s in finding.settings]
    cells = (NOUN[finding.severity], rule, _md(where(finding)), "<br>".join(parts))
    return "| " + " | ".join(cells) + " |"


def step_summary(
    report: Report,
    *,
    plan: Plan | None = None,
    skipped: Skipped = (),
    source: str = "",
    fail_on: str = "warn",
    max_rows: int = 50,
    rules_uri: str = RULES_URI,
) -> str:
    """The check as GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY`, ending with a newline.

    A heading with the verdict; the counts, data revision and `source`, and whether the check
    fails at `fail_on`; a table of the first `max_rows` findings in file/line order (severity,
    rule linked to docs/rules.md under `rules_uri`, place, message with fix and settings);
    then, given `plan` or `skipped`, a collapsed list of what was checked. Text from configs
    is escaped, so it cannot add Markdown or HTML. Raises ValueError for an unknown `fail_on`
    or a negative `max_rows`.
    """
    severities = failing(fail_on)
    if max_rows < 0:
        raise ValueError(f"max_rows must be 0 or more, not {max_rows}")
    findings = ordered(report.findings)
    data = f"data revision {report.revision}" + (f", {_md(source)}" if source else "")
    fails = any(f.severity in severities for f in findings)
    outcome = "fails" if fails else "passes"
    lines = [
        f"### ftmatrix check: {report.verdict}",
        "",
        f"{counts_text(report)} ({data}). At `--fail-on {fail_on}` the check {outcome}.",
    ]
    if findings and max_rows:
        lines += ["", "| Severity | Rule | Where | Finding |", "| --- | --- | --- | --- |"]
        lines += [_row(f, rules_uri) for f in findings[:max_rows]]
    if len(findings) > max_rows:
        lines += [
            "",
            f"Showing {max_rows} of {len(findings)} findings, in file order;"
            " `ftmatrix check --format json` lists all.",
        ]
    if plan is not None or skipped:
        items = plan_lines(plan, skipped)
        lines += ["", f"<details><summary>Checked: {_md(plan_heading(plan, skipped))}</summary>"]
        lines += [""] + [f"- {_md(item)}" for item in items[:_PLAN_LINES]]
        if len(items) > _PLAN_LINES:
            lines.append(f"- and {len(items) - _PLAN_LINES} more")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
