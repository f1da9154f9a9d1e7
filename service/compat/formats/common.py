"""What every report format shares: finding order, places, labelled extras, the plan's items.

The order: findings are listed by the file and line of their first location, then by rule id;
a finding about the plan as a whole (no location) comes first, and a location without a line
before the lines of its file. Ties keep the report's own (deterministic) order.

The plan ("what was checked"): every technique and library pin found, with file:line and the
evidence, the settings and base model the readers found, the readers' notes, the scenarios
declared, and the files skipped with the reason. JSON and SARIF carry it as data
(`plan_json`), text and logs as lines (`plan_lines`), JUnit as properties (`plan_properties`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from service.compat.findings import SEVERITIES, Finding, Report
from service.detect.plan import Location, Plan, SettingValue

# docs/rules.md and the README as published under the domain the project already uses for its
# RFC 9457 problem types (service.errors.PROBLEM_BASE). SARIF wants absolute URIs here, and no
# repository URL is recorded anywhere in the project to build one from.
RULES_URI = "https://ftmatrix.dev/rules"
INFORMATION_URI = "https://ftmatrix.dev/"
# Text and annotations are read by people: a few sources suffice; JSON and SARIF keep them all.
EVIDENCE_SHOWN = 3

FAILING = {"warn": ("error", "warning"), "fail": ("error",)}
THRESHOLDS = tuple(FAILING)
NOUN = {"error": "error", "warning": "warning", "info": "note"}

Skipped = Sequence[tuple[str, str]]
"""Input files the check did not read, each with the reason: (file, reason)."""


def failing(fail_on: str) -> tuple[str, ...]:
    """The severities that fail the check at `--fail-on fail_on`; ValueError for another."""
    if fail_on not in FAILING:
        raise ValueError(f"fail_on must be one of {', '.join(THRESHOLDS)}, not {fail_on!r}")
    return FAILING[fail_on]


def absolute_uri(uri: str, what: str) -> str:
    """`uri` if it is an absolute http(s) URI (SARIF requires that of help and information
    URIs), else ValueError naming `what`."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"{what} must be an absolute http(s) URI without a fragment: {uri!r}")
    return uri


def rule_uri(rule_id: str, rules_uri: str = RULES_URI) -> str:
    """The address of a rule's section of docs/rules.md: its heading's anchor is the id in lower
    case (the slug GitHub and MkDocs both give a heading `## FTM101`)."""
    return f"{rules_uri}#{rule_id.lower()}"


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings by file and line of their first location, then rule (see the module)."""

    def key(finding: Finding) -> tuple[str, int, str]:
        if not finding.locations:
            return ("", 0, finding.rule)
        first = finding.locations[0]
        return (first.file, line(first) or 0, finding.rule)

    return tuple(sorted(findings, key=key))


def line(location: Location) -> int | None:
    """The 1-based line, or None; anything below 1 is as good as unknown."""
    return location.line if location.line is not None and location.line >= 1 else None


def place(location: Location) -> str:
    """`file:line`, or the file alone when the line is unknown."""
    found = line(location)
    return f"{location.file}:{found}" if found is not None else location.file


def where(finding: Finding) -> str:
    """The place of the finding's first location, `<plan>` for a plan-wide finding."""
    return place(finding.locations[0]) if finding.locations else "<plan>"


def one_line(text: str) -> str:
    """`text` on one line: a stray newline would start what looks like a new entry in a log."""
    return " ".join(text.splitlines())


def extras(finding: Finding, evidence_shown: int | None) -> list[tuple[str, str]]:
    """The labelled lines shown under a finding's message, in reading order; at most
    `evidence_shown` sources (all with None), then a line saying how many more there are."""
    shown_extras = [("fix", finding.fix)] if finding.fix else []
    shown_extras += [("setting", s) for s in finding.settings]
    shown_extras += [("detail", d) for d in finding.details]
    shown = finding.evidence[:evidence_shown] if evidence_shown else finding.evidence
    shown_extras += [("evidence", e) for e in shown]
    if len(finding.evidence) > len(shown):
        more = len(finding.evidence) - len(shown)
        shown_extras.append(("evidence", f"+{more} more in --format json"))
    shown_extras += [("also", place(x)) for x in finding.locations[1:]]
    return shown_extras


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 error`, `2 errors`; `nouns` for an irregular plural."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def counts(report: Report) -> dict[str, int]:
    """How many findings of each severity (every severity present, zero or not)."""
    found = Counter(f.severity for f in report.findings)
    return {severity: found[severity] for severity in SEVERITIES}


def counts_text(report: Report) -> str:
    """`1 error, 2 warnings, 0 notes`, or `no findings`."""
    if not report.findings:
        return "no findings"
    return ", ".join(plural(n, NOUN[s]) for s, n in counts(report).items())


# --- the plan: what was checked


def _value(value: SettingValue) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _json_value(value: SettingValue) -> Any:
    if isinstance(value, tuple):
        return list(value)
    # JSON has no NaN or infinity; the text form keeps the value readable.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def location_json(location: Location | None) -> dict[str, Any] | None:
    """A location as JSON (`file`, `line`, `key`), or None."""
    if location is None:
        return None
    return {"file": location.file, "line": location.line, "key": location.key}


def plan_json(plan: Plan | None, skipped: Skipped) -> dict[str, Any]:
    """The plan as JSON: `techniques`, `scenarios`, `libraries`, `settings`, `model`, `notes`
    and `skipped`, each a list (model: an object or null). Libraries and settings by name."""
    plan = plan or Plan()
    libraries = sorted(plan.libraries.values(), key=lambda x: x.name)
    settings = sorted(plan.settings.values(), key=lambda x: x.name)
    model = plan.model
    return {
        "techniques": [
            {"id": t.id, "evidence": t.evidence, "location": location_json(t.location)}
            for t in plan.techniques
        ],
        "scenarios": list(plan.scenarios),
        "libraries": [
            {"name": x.name, "version": x.version, "location": location_json(x.location)}
            for x in libraries
        ],
        "settings": [
            {
                "name": x.name,
                "value": _json_value(x.value),
                "guessed": x.guessed,
                "location": location_json(x.location),
            }
            for x in settings
        ],
        "model": (
            None
            if model is None
            else {"name": model.name, "location": location_json(model.location)}
        ),
        "notes": [
            {"severity": n.severity, "message": n.message, "location": location_json(n.location)}
            for n in plan.notes
        ],
        "skipped": [{"file": file, "reason": reason} for file, reason in skipped],
    }


def _at(location: Location | None) -> str:
    return f" at {place(location)}" if location is not None else ""


def plan_heading(plan: Plan | None, skipped: Skipped) -> str:
    """`4 techniques, 7 libraries, 1 skipped file`: techniques always, the rest when present."""
    plan = plan or Plan()
    parts = [plural(len(plan.techniques), "technique")]
    for count, noun, nouns in (
        (len(plan.scenarios), "scenario", None),
        (len(plan.libraries), "library", "libraries"),
        (len(plan.settings), "setting", None),
        (int(plan.model is not None), "model", None),
        (len(plan.notes), "note", None),
        (len(skipped), "skipped file", None),
    ):
        if count:
            parts.append(plural(count, noun, nouns))
    return ", ".join(parts)


def plan_lines(plan: Plan | None, skipped: Skipped) -> list[str]:
    """One line per item checked, e.g. `technique qlora at config.yml:19: adapter: qlora`,
    `library peft 0.9.0 at requirements.txt:5`, `warning: ... (config.yml:55)`,
    `skipped compose.yml: not a training config`; every line starts with a word."""
    plan = plan or Plan()
    lines = []
    for t in plan.techniques:
        evidence = f": {t.evidence}" if t.evidence else ""
        lines.append(f"technique {t.id}{_at(t.location)}{evidence}")
    lines += [f"scenario {s}" for s in plan.scenarios]
    for library in sorted(plan.libraries.values(), key=lambda x: x.name):
        lines.append(f"library {library.name} {library.version}{_at(library.location)}")
    for setting in sorted(plan.settings.values(), key=lambda x: x.name):
        guessed = " (guessed)" if setting.guessed else ""
        value = _value(setting.value)
        lines.append(f"setting {setting.name} = {value}{guessed}{_at(setting.location)}")
    if plan.model is not None:
        lines.append(f"model {plan.model.name}{_at(plan.model.location)}")
    for note in plan.notes:
        at = f" ({place(note.location)})" if note.location is not None else ""
        lines.append(f"{note.severity}: {note.message}{at}")
    lines += [f"skipped {file}: {reason}" for file, reason in skipped]
    return [one_line(x) for x in lines]


def plan_properties(plan: Plan | None, skipped: Skipped) -> list[tuple[str, str]]:
    """The plan as unique (name, value) pairs: `technique.qlora`, `library.peft`,
    `setting.deepspeed.zero_stage`, `scenario.N`, `model`, `note.N`, `skipped.N` (N from 1)."""
    plan = plan or Plan()
    found: list[tuple[str, str]] = []
    for t in plan.techniques:
        evidence = f": {t.evidence}" if t.evidence else ""
        where_found = place(t.location) if t.location is not None else "<plan>"
        found.append((f"technique.{t.id}", f"{where_found}{evidence}"))
    found += [(f"scenario.{n}", s) for n, s in enumerate(plan.scenarios, 1)]
    for library in sorted(plan.libraries.values(), key=lambda x: x.name):
        found.append((f"library.{library.name}", f"{library.version}{_at(library.location)}"))
    for setting in sorted(plan.settings.values(), key=lambda x: x.name):
        guessed = " (guessed)" if setting.guessed else ""
        value = f"{_value(setting.value)}{guessed}{_at(setting.location)}"
        found.append((f"setting.{setting.name}", value))
    if plan.model is not None:
        found.append(("model", f"{plan.model.name}{_at(plan.model.location)}"))
    for n, note in enumerate(plan.notes, 1):
        at = f" ({place(note.location)})" if note.location is not None else ""
        found.append((f"note.{n}", f"{note.severity}: {note.message}{at}"))
    found += [(f"skipped.{n}", f"{f}: {why}") for n, (f, why) in enumerate(skipped, 1)]
    return [(name, one_line(value)) for name, value in found]
