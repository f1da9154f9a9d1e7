"""The service's words, defined once: support levels, pair verdicts, confidences, categories,
scenario kinds, key scopes, finding severities, check outcomes and audit outcomes.

Enums are what wire schemas use (their names become the OpenAPI schema names); the tuples of
values are what plain code, the database CHECK constraints and error messages use. Pure: the
standard library only, so pure modules (rules, readers, the estimator) may import it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Support(StrEnum):
    """How well a technique suits a scenario."""

    yes = "yes"
    no = "no"
    partial = "partial"
    unknown = "unknown"


class Verdict(StrEnum):
    """What is known about combining two techniques."""

    compatible = "compatible"
    caveats = "caveats"
    incompatible = "incompatible"
    not_applicable = "not_applicable"
    unknown = "unknown"


class Confidence(StrEnum):
    """How directly a primary source states a fact."""

    high = "high"
    medium = "medium"
    low = "low"


class Category(StrEnum):
    """What kind of thing a technique is."""

    adapter = "adapter"
    quantized_adapter = "quantized-adapter"
    library = "library"
    distributed_training_framework = "distributed-training-framework"
    sharding = "sharding"
    other = "other"


class ScenarioKind(StrEnum):
    """A scenario is a task (what the model must do) or a goal (what the team must achieve)."""

    task = "task"
    goal = "goal"


SUPPORT_LEVELS: tuple[str, ...] = tuple(Support)
VERDICTS: tuple[str, ...] = tuple(Verdict)
CONFIDENCES: tuple[str, ...] = tuple(Confidence)
TECHNIQUE_CATEGORIES: tuple[str, ...] = tuple(Category)
SCENARIO_KINDS: tuple[str, ...] = tuple(ScenarioKind)

# Worst first. A known break outranks ignorance, and ignorance outranks known caveats, because
# an unverified combination may hide anything a caveat would have named.
VERDICT_ORDER: tuple[str, ...] = (
    "incompatible",
    "unknown",
    "caveats",
    "compatible",
    "not_applicable",
)

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
"""Key scopes, narrowest first: each admits what the ones before it admit."""

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
"""Severities of a check finding, worst first."""

Outcome = Literal["pass", "warn", "fail"]
OUTCOMES: tuple[Outcome, ...] = ("pass", "warn", "fail")
"""The verdict of a whole plan check."""

AuditOutcome = Literal["ok", "dry_run", "refused", "error"]
AUDIT_OUTCOMES: tuple[AuditOutcome, ...] = ("ok", "dry_run", "refused", "error")
"""How a write attempt ended: applied, previewed, refused (4xx) or failed (5xx)."""
