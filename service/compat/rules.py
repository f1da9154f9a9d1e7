"""Check a training plan against the knowledge: findings for a CI log, and one verdict.

Pure: the standard library, `packaging` and `service.detect.plan` only (through the sibling modules
`knowledge` and `versions`, whose public names are re-exported here), so the service and the
offline CLI get the same report from the same data.

Which pairs are checked. A plan that names a technique and one of its descendants (`zero` and
`zero-3`, or `lora` and `qlora`) uses the descendant: the descendant speaks for the family, so
pairs are formed between the plan's most specific techniques only, plus any technique paired
with its own ancestor for which an explicit fact exists. Findings that rest on the same fact are
reported once, naming every pair that reached it. Scenario cells are checked for the same most
specific techniques.

Severities (see RULES). A pair fact of low confidence never lowers a severity: the pair's
finding says "(low confidence)", and a compatible verdict, silent otherwise, becomes a warning
(FTM106). An unknown or missing scenario cell is only `info`: a technique that suits a scenario
poorly still runs, while an unverified pair may not. `compatible` facts are silent unless they
list required settings (then FTM104, like caveats), are inherited (FTM108) or need versions;
`not_applicable` facts are always silent. A `compatible` or `caveats` fact with structured
requirements is judged by them instead of FTM104: each requirement the plan's settings violate is
an error (FTM109) at the setting's line, each the files do not settle a warning (FTM110) naming
the setting to add, and when all are met one note (FTM111) carries the caveats. Library versions
are checked only for `compatible` and `caveats` verdicts, the ones that claim the pair works from
some version on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import combinations
from typing import Literal

from service.compat.findings import (
    PAIR_CAVEATS,
    PAIR_INCOMPATIBLE,
    PAIR_INHERITED,
    PAIR_LOW_CONFIDENCE,
    PAIR_RECOMMENDATION_DIFFERS,
    PAIR_REQUIREMENT_UNDETERMINED,
    PAIR_REQUIREMENT_UNMET,
    PAIR_REQUIREMENTS_MET,
    PAIR_UNKNOWN,
    PAIR_VERSION_BELOW_RECOMMENDED,
    PAIR_VERSION_UNMET,
    PAIR_VERSION_UNVERIFIED,
    PAIR_VERSIONS_NOT_GIVEN,
    RULES,
    SCENARIO_PARTIAL,
    SCENARIO_UNKNOWN,
    SCENARIO_UNSUPPORTED,
    SEVERITIES,
    Finding,
    Outcome,
    Report,
    Rule,
    Severity,
)
from service.compat.knowledge import (
    CellFact,
    Knowledge,
    PairFact,
    PairVerdict,
    SupportVerdict,
    TechniqueFact,
    overall_verdict,
    pair_verdict,
    scenario_support,
)
from service.compat.requirements import Requirement, judged
from service.compat.versions import BadVersion, Pin, parse_pins, satisfies, upgrade_fix
from service.detect.plan import Location, Plan, PlannedSetting, PlannedTechnique
from service.vocabulary import CONFIDENCES, VERDICT_ORDER, VERDICTS
from service.vocabulary import SUPPORT_LEVELS as SUPPORTS

__all__ = [
    "CONFIDENCES",
    "RULES",
    "SEVERITIES",
    "SUPPORTS",
    "VERDICTS",
    "VERDICT_ORDER",
    "BadVersion",
    "CellFact",
    "Finding",
    "Knowledge",
    "Outcome",
    "PairFact",
    "PairVerdict",
    "Report",
    "Requirement",
    "Rule",
    "Severity",
    "SupportVerdict",
    "TechniqueFact",
    "Threshold",
    "check_plan",
    "fail_on",
    "overall_verdict",
    "pair_verdict",
    "scenario_support",
]

Threshold = Literal["warn", "fail"]

_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def check_plan(knowledge: Knowledge, plan: Plan) -> Report:
    """Check every pair and declared scenario of the plan; see the module docstring for scope.

    Findings are ordered by severity (error, warning, info), rule id, techniques, scenario, then
    message, so the same plan always gives the same report whatever the order of its parts.

    The caller validates ids first (the API answers with suggestions): this raises ValueError
    for a technique or scenario id the knowledge lacks, then BadVersion (an InvalidVersion) for
    the first pinned version, by library name, that is not PEP 440.
    """
    located = _locations(plan.techniques)
    scenarios = sorted(set(plan.scenarios))
    for kind, unknown in (
        ("technique", knowledge.unknown_techniques(located)),
        ("scenario", knowledge.unknown_scenarios(scenarios)),
    ):
        if unknown:
            raise ValueError(f"unknown {kind} ids: {', '.join(unknown)}")
    pins = parse_pins(plan.libraries.values())
    ids = sorted(located)
    leaves = [t for t in ids if not any(t in knowledge.ancestors(other) for other in ids)]
    findings = {
        *_pair_findings(knowledge, ids, leaves, pins, located, plan.settings),
        *_scenario_findings(knowledge, leaves, scenarios, located),
    }
    ordered = tuple(sorted(findings, key=finding_order))
    severities = {finding.severity for finding in ordered}
    verdict: Outcome = (
        "fail" if "error" in severities else "warn" if "warning" in severities else "pass"
    )
    return Report(verdict, knowledge.revision, ordered)


def fail_on(report: Report, threshold: Threshold) -> bool:
    """Whether the CLI should exit non-zero: at `warn`, on warn or fail; at `fail`, on fail only.

    Raises ValueError for another threshold.
    """
    if threshold == "fail":
        return report.verdict == "fail"
    if threshold == "warn":
        return report.verdict != "pass"
    raise ValueError(f"threshold must be warn or fail, not {threshold!r}")


def _finding(
    rule: str,
    message: str,
    techniques: tuple[str, ...],
    *,
    scenario: str | None = None,
    evidence: tuple[str, ...] = (),
    fix: str | None = None,
    locations: tuple[Location, ...] = (),
    settings: tuple[str, ...] = (),
    details: tuple[str, ...] = (),
) -> Finding:
    # Two techniques (or a pin and a technique) may be found on the same config line.
    unique = tuple(dict.fromkeys(locations))
    return Finding(
        rule,
        RULES[rule].severity,
        message,
        techniques,
        scenario,
        evidence,
        fix,
        unique,
        settings,
        details,
    )


class _Tiebreak:
    """A finding's repr, made only when two findings tie on everything before it."""

    __slots__ = ("finding",)

    def __init__(self, finding: Finding) -> None:
        self.finding = finding

    def __lt__(self, other: _Tiebreak) -> bool:
        return repr(self.finding) < repr(other.finding)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Tiebreak) and repr(self.finding) == repr(other.finding)

    __hash__ = None  # type: ignore[assignment]


def finding_order(finding: Finding) -> tuple[object, ...]:
    """The sort key of a report's findings: severity, rule, techniques, scenario, message."""
    # The repr last: two findings equal up to the message still sort the same way on every
    # run. Made lazily: a repr costs more than the rest of the key, and ties are rare.
    return (
        _SEVERITY_RANK[finding.severity],
        finding.rule,
        finding.techniques,
        finding.scenario is not None,
        finding.scenario or "",
        finding.message,
        _Tiebreak(finding),
    )


def _locations(techniques: Iterable[PlannedTechnique]) -> dict[str, tuple[Location, ...]]:
    found: dict[str, set[Location]] = {}
    for technique in techniques:
        where = found.setdefault(technique.id, set())
        if technique.location is not None:
            where.add(technique.location)
    return {
        tid: tuple(sorted(where, key=lambda loc: (loc.file, loc.line or 0, loc.key or "")))
        for tid, where in found.items()
    }


def _where(
    techniques: Sequence[str], located: Mapping[str, tuple[Location, ...]]
) -> tuple[Location, ...]:
    return tuple(loc for tid in techniques for loc in located[tid])


def _pair_findings(
    knowledge: Knowledge,
    ids: Sequence[str],
    leaves: Sequence[str],
    pins: Mapping[str, Pin],
    located: Mapping[str, tuple[Location, ...]],
    settings: Mapping[str, PlannedSetting],
) -> Iterator[Finding]:
    checked = [
        *combinations(leaves, 2),
        *(
            (a, b)
            for a, b in combinations(ids, 2)
            if knowledge.related(a, b) and knowledge.pair(a, b) is not None
        ),
    ]
    by_fact: dict[frozenset[str], tuple[PairFact, list[PairVerdict]]] = {}
    for a, b in checked:
        judged = pair_verdict(knowledge, a, b)
        if judged.fact is not None:
            by_fact.setdefault(judged.fact.key, (judged.fact, []))[1].append(judged)
        elif judged.verdict == "unknown":
            yield _finding(
                PAIR_UNKNOWN,
                f"Nothing is known about combining {a} + {b}; not verified.",
                (a, b),
                locations=_where((a, b), located),
            )
    for fact, members in by_fact.values():
        techniques = tuple(sorted({t for m in members for t in (m.a, m.b)}))
        where = _where(techniques, located)
        head = next((m for m in members if m.inherited_from is None), members[0])
        subject = f"{head.a} + {head.b}"
        if head.inherited_from is not None:
            x, y = head.inherited_from
            subject = f"{', '.join(f'{m.a} + {m.b}' for m in members)} (inherited from {x} + {y})"
        judgement = _judgement(fact, head, subject)
        if fact.requirements and fact.verdict in ("compatible", "caveats"):
            yield from _requirement_findings(fact, subject, techniques, settings, where)
            if judgement is not None and judgement[0] == PAIR_CAVEATS:
                judgement = _low_confidence(subject) if head.confidence == "low" else None
        if judgement is not None:
            rule, message, fix = judgement
            yield _finding(
                rule,
                message,
                techniques,
                evidence=fact.sources,
                fix=fix,
                locations=where,
                settings=fact.settings if rule == PAIR_CAVEATS else (),
                details=((fact.note,) if fact.note else ()) + fact.caveats,
            )
        if fact.verdict in ("compatible", "caveats"):
            yield from _version_findings(fact, subject, techniques, pins, where)


def _judgement(
    fact: PairFact, head: PairVerdict, subject: str
) -> tuple[str, str, str | None] | None:
    """The rule, message and fix for the pair's verdict itself; None when it is silent."""
    low = " (low confidence)" if head.confidence == "low" else ""
    if fact.verdict == "incompatible":
        fix = f"use either {head.a} or {head.b}, not both"
        return PAIR_INCOMPATIBLE, f"{subject} cannot be combined{low}.", fix
    if fact.verdict == "unknown":
        return PAIR_UNKNOWN, f"Nothing is known about combining {subject}; not verified{low}.", None
    if fact.verdict == "not_applicable":
        return None
    if fact.verdict == "caveats" or fact.settings:
        apply = "apply the required settings" if fact.settings else None
        return PAIR_CAVEATS, f"{subject} combine only with {_care(fact)}{low}.", apply
    if low:
        return _low_confidence(subject)
    if head.inherited_from is not None:
        message = f"{subject} are assumed compatible; not verified for this pair."
        return PAIR_INHERITED, message, None
    return None


def _low_confidence(subject: str) -> tuple[str, str, None]:
    message = f"{subject} are recorded as compatible with low confidence; verify before use."
    return PAIR_LOW_CONFIDENCE, message, None


def _requirement_findings(
    fact: PairFact,
    subject: str,
    techniques: tuple[str, ...],
    settings: Mapping[str, PlannedSetting],
    where: tuple[Location, ...],
) -> Iterator[Finding]:
    results = judged(fact.requirements, settings)
    for requirement, status in results:
        if status == "met":
            continue
        if requirement.level == "recommended":
            found = settings.get(requirement.setting)
            if status == "unmet" and found is not None:
                here = (found.location,) if found.location else ()
                yield _finding(
                    PAIR_RECOMMENDATION_DIFFERS,
                    f"{requirement.setting} is {_value(found)}; the working setups behind"
                    f" {subject} use {requirement.wanted}.",
                    techniques,
                    evidence=requirement.sources or fact.sources,
                    fix=f"consider {requirement.wanted}",
                    locations=here + where,
                    details=(requirement.text,) if requirement.text else (),
                )
            continue
        found = settings.get(requirement.setting)
        evidence = requirement.sources or fact.sources
        said = (requirement.text or requirement.wanted,)
        if status == "unmet":
            assert found is not None
            here = (found.location,) if found.location else ()
            yield _finding(
                PAIR_REQUIREMENT_UNMET,
                f"{requirement.setting} is {_value(found)}, but {subject} requires"
                f" {requirement.wanted}.",
                techniques,
                evidence=evidence,
                fix=f"set {requirement.wanted}",
                locations=here + where,
                settings=said,
                details=(requirement.text,) if requirement.text else (),
            )
            continue
        why = "is only guessed" if found is not None else "is not set by any file checked"
        yield _finding(
            PAIR_REQUIREMENT_UNDETERMINED,
            f"{subject} requires {requirement.wanted}, but {requirement.setting} {why}.",
            techniques,
            evidence=evidence,
            fix=f"add {requirement.wanted} to the config",
            locations=where,
            settings=said,
            details=(requirement.text,) if requirement.text else (),
        )
    required = [(r, status) for r, status in results if r.level == "required"]
    if all(status == "met" for _, status in required):
        read = tuple(
            s.location
            for r in fact.requirements
            if (s := settings.get(r.setting)) is not None and s.location is not None
        )
        yield _finding(
            PAIR_REQUIREMENTS_MET,
            f"{subject}: every required setting is met"
            f" ({'; '.join(r.wanted for r in fact.requirements)}).",
            techniques,
            evidence=fact.sources,
            locations=read + where,
            settings=tuple(r.text or r.wanted for r in fact.requirements),
            details=((fact.note,) if fact.note else ()) + fact.caveats,
        )


def _value(setting: PlannedSetting) -> str:
    value = setting.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _care(fact: PairFact) -> str:
    counts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((len(fact.settings), "required setting"), (len(fact.caveats), "caveat"))
        if n
    ]
    return " and ".join(counts) or "caveats"


def _version_findings(
    fact: PairFact,
    subject: str,
    techniques: tuple[str, ...],
    pins: Mapping[str, Pin],
    where: tuple[Location, ...],
) -> Iterator[Finding]:
    unpinned: list[str] = []
    for library in sorted({*fact.versions, *fact.recommended_versions}):
        required = fact.versions.get(library)
        recommended = fact.recommended_versions.get(library)
        pin = pins.get(library)
        if pin is None:
            if required is not None:
                unpinned.append(library)
            continue
        pinned = f"{library} {pin.library.version}"
        here = (pin.library.location,) if pin.library.location else ()
        if required is not None and not satisfies(pin.version, required):
            yield _finding(
                PAIR_VERSION_UNMET,
                f"{pinned} does not satisfy {required}, which {subject} requires.",
                techniques,
                evidence=fact.sources,
                fix=upgrade_fix(library, pin.version, required, recommended),
                locations=here + where,
            )
        elif recommended is not None and not satisfies(pin.version, recommended):
            yield _finding(
                PAIR_VERSION_BELOW_RECOMMENDED,
                f"{pinned} meets the minimum but not the recommended {recommended} for {subject}.",
                techniques,
                evidence=fact.sources,
                fix=upgrade_fix(library, pin.version, recommended, None),
                locations=here + where,
            )
    if unpinned:
        wanted = []
        for library in unpinned:
            recommended = fact.recommended_versions.get(library)
            also = f" (recommended {recommended})" if recommended else ""
            wanted.append(f"{library}{fact.versions[library]}{also}")
        # A config checked alone (no requirements file at all) is not a gap in what was given:
        # the minimums are a note. With pins given, a missing one is a warning.
        given = bool(pins)
        yield _finding(
            PAIR_VERSION_UNVERIFIED if given else PAIR_VERSIONS_NOT_GIVEN,
            f"Could not verify {', '.join(unpinned)} for {subject}: the plan pins no version."
            if given
            else f"{subject} need {', '.join(wanted)}; no library versions were given to check.",
            techniques,
            evidence=fact.sources,
            fix=f"pin {', '.join(wanted)}",
            locations=where,
        )


_SCENARIO_RULES = {
    "no": (SCENARIO_UNSUPPORTED, "{who} does not suit the scenario '{title}'."),
    "partial": (SCENARIO_PARTIAL, "{who} only partly suits the scenario '{title}'."),
    "unknown": (SCENARIO_UNKNOWN, "Whether {who} suits the scenario '{title}' is not known."),
}


def _scenario_findings(
    knowledge: Knowledge,
    leaves: Sequence[str],
    scenarios: Sequence[str],
    located: Mapping[str, tuple[Location, ...]],
) -> Iterator[Finding]:
    for scenario in scenarios:
        title = knowledge.scenarios[scenario]
        suited = sorted(
            t
            for t in knowledge.techniques
            if (cell := knowledge.cell(scenario, t)) is not None and cell.support == "yes"
        )
        fix = (
            f"consider a technique marked yes for this scenario: {', '.join(suited)}"
            if suited
            else None
        )
        for technique in leaves:
            judged = scenario_support(knowledge, scenario, technique)
            if judged.support == "yes":
                continue
            who = technique
            if judged.inherited_from is not None:
                who = f"{technique} (as {judged.inherited_from})"
            rule, template = _SCENARIO_RULES[judged.support]
            cell = judged.cell
            yield _finding(
                rule,
                template.format(who=who, title=title),
                (technique,),
                scenario=scenario,
                evidence=cell.sources if cell else (),
                fix=None if rule == SCENARIO_UNKNOWN else fix,
                locations=located[technique],
                details=(cell.note,) if cell and cell.note else (),
            )
