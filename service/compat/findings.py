"""What a plan check reports: the rule registry, findings and the report.

Pure data (standard library and `service.detect.plan`); `service.compat.rules` re-exports every
name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, NamedTuple

from service.detect.plan import Location

Severity = Literal["error", "warning", "info"]
Outcome = Literal["pass", "warn", "fail"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


class Rule(NamedTuple):
    """A check: its stable kebab-case name, the severity of its findings, what it means."""

    name: str
    severity: Severity
    description: str


PAIR_INCOMPATIBLE = "FTM101"
PAIR_VERSION_UNMET = "FTM102"
PAIR_VERSION_UNVERIFIED = "FTM103"
PAIR_CAVEATS = "FTM104"
PAIR_UNKNOWN = "FTM105"
PAIR_LOW_CONFIDENCE = "FTM106"
PAIR_VERSION_BELOW_RECOMMENDED = "FTM107"
PAIR_INHERITED = "FTM108"
SCENARIO_UNSUPPORTED = "FTM201"
SCENARIO_PARTIAL = "FTM202"
SCENARIO_UNKNOWN = "FTM203"

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        PAIR_INCOMPATIBLE: Rule(
            "pair-incompatible", "error", "Two techniques of the plan are known not to combine."
        ),
        PAIR_VERSION_UNMET: Rule(
            "pair-version-unmet",
            "error",
            "A pinned library version misses the minimum at which a pair of the plan works.",
        ),
        PAIR_VERSION_UNVERIFIED: Rule(
            "pair-version-unverified",
            "warning",
            "A pair needs minimum library versions the plan does not pin, so they could not be"
            " verified.",
        ),
        PAIR_CAVEATS: Rule(
            "pair-caveats", "warning", "A pair combines only with caveats or required settings."
        ),
        PAIR_UNKNOWN: Rule(
            "pair-unknown", "warning", "Nothing is known about a pair, so it is not verified."
        ),
        PAIR_LOW_CONFIDENCE: Rule(
            "pair-low-confidence",
            "warning",
            "A pair is recorded as compatible, but with low confidence.",
        ),
        PAIR_VERSION_BELOW_RECOMMENDED: Rule(
            "pair-version-below-recommended",
            "info",
            "A pinned library version meets a pair's minimum but not its recommended version.",
        ),
        PAIR_INHERITED: Rule(
            "pair-inherited",
            "info",
            "A pair is judged compatible only from a fact about a parent technique.",
        ),
        SCENARIO_UNSUPPORTED: Rule(
            "scenario-unsupported", "error", "A technique does not suit a declared scenario."
        ),
        SCENARIO_PARTIAL: Rule(
            "scenario-partial", "warning", "A technique only partly suits a declared scenario."
        ),
        SCENARIO_UNKNOWN: Rule(
            "scenario-unknown",
            "info",
            "Whether a technique suits a declared scenario is not known.",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem or note about a plan, ready for a CI log or an annotation.

    `rule` is a key of RULES and `severity` its severity; `message` is one sentence; `evidence`
    holds source URLs; `fix` a suggested change; `locations` point at the config lines of the
    techniques and pins involved; `settings` are the settings a pair requires (FTM104 only);
    `details` the longer text behind the message (the fact's note, then its caveats).
    """

    rule: str
    severity: Severity
    message: str
    techniques: tuple[str, ...]
    scenario: str | None = None
    evidence: tuple[str, ...] = ()
    fix: str | None = None
    locations: tuple[Location, ...] = ()
    settings: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of `check_plan`: fail if any error, warn if any warning, else pass."""

    verdict: Outcome
    revision: int
    findings: tuple[Finding, ...]
