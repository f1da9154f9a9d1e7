"""Compatibility reads and plan checks over a snapshot, through the pure rules engine."""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations
from typing import Any

from pydantic import TypeAdapter

from service.compat import document, rules
from service.compat import schemas as s
from service.compat.knowledge import CellFact, Knowledge
from service.compat.modelchecks import Placement, model_findings, problems, with_findings
from service.compat.requirements import requirement_fields
from service.detect.plan import (
    SETTINGS,
    Location,
    Plan,
    PlannedLibrary,
    PlannedModel,
    PlannedSetting,
    PlannedTechnique,
    SettingValue,
    normalize_name,
)
from service.errors import InvalidInput, unknown_id
from service.offerings import service as offerings
from service.offerings.rules import OfferingKnowledge
from service.snapshot import CellData, PairData, Snapshot
from service.vocabulary import Confidence, Verdict


def _document(snap: Snapshot, cells: Iterable[CellData]) -> dict[str, Any]:
    return {
        "format": document.FORMAT,
        "revision": snap.revision,
        "techniques": [
            {"id": t.id, "name": t.name, "parent": t.parent, "aliases": list(t.aliases)}
            for t in snap.techniques.values()
        ],
        "scenarios": [
            {"id": sc.id, "title": sc.title, "aliases": list(sc.aliases)}
            for sc in snap.scenarios.values()
        ],
        "cells": [
            {
                "scenario": c.scenario,
                "technique": c.technique,
                "support": c.support,
                "note": c.note,
                "sources": list(c.sources),
            }
            for c in cells
        ],
        "pairs": [pair_fields(p) for p in snap.pairs.values()],
        **offerings.export_entities(snap),
    }


def export_document(snap: Snapshot) -> dict[str, Any]:
    """The snapshot document of `snap` (see `service.compat.document`), every cell included."""
    return _document(snap, snap.cells.select().values())


_JSON = TypeAdapter(Any)
EXPORT_CHUNK_ROWS = 100


def export_parts(snap: Snapshot) -> Iterator[bytes]:
    """`export_document(snap)` as JSON, as pydantic writes it, in pieces: the cells are read
    `EXPORT_CHUNK_ROWS` scenario rows at a time, so any size is written in bounded memory."""
    separator = b"{"
    for key, value in _document(snap, ()).items():
        name = _JSON.dump_json(key)
        if key != "cells":
            yield separator + name + b":" + _JSON.dump_json(value)
        else:
            yield separator + name + b":["
            first = True
            ids = list(snap.scenarios)
            for start in range(0, len(ids), EXPORT_CHUNK_ROWS):
                rows = snap.cells.rows(ids[start : start + EXPORT_CHUNK_ROWS]).values()
                if rows:
                    chunk = _JSON.dump_json(_document(snap, rows)["cells"])[1:-1]
                    yield chunk if first else b"," + chunk
                    first = False
            yield b"]"
        separator = b","
    yield b"}"


def pair_fields(p: PairData) -> dict[str, Any]:
    return {
        "a": p.a,
        "b": p.b,
        "verdict": p.verdict,
        "note": p.note,
        "caveats": list(p.caveats),
        "settings": list(p.settings),
        "versions": dict(p.versions),
        "recommended_versions": dict(p.recommended_versions),
        "since": p.since,
        "confidence": p.confidence,
        "sources": list(p.sources),
        "requirements": [dict(r) for r in p.requirements],
    }


def catalog_of(snap: Snapshot) -> document.Catalog:
    """The rules' view of `snap` without its cells (`knowledge_for` adds the ones a plan needs)."""
    result: document.Catalog = snap.memo("catalog", lambda: document.load(_document(snap, ())))
    return result


def knowledge_for(snap: Snapshot, scenarios: Sequence[str]) -> Knowledge:
    """The rules' knowledge of `snap`, with the cells of these scenarios' rows."""
    knowledge = catalog_of(snap).knowledge
    if not scenarios:
        return knowledge
    cells = tuple(
        CellFact(c.scenario, c.technique, c.support, c.note, c.sources)
        for c in snap.cells.rows(scenarios).values()
    )
    return dataclasses.replace(knowledge, cells=cells)


def _technique_ids(snap: Snapshot, values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        found = snap.find_technique(value)
        if found is None:
            raise unknown_id("technique", value, _spellings(snap))
        if found.id not in out:
            out.append(found.id)
    return out


def _spellings(snap: Snapshot) -> dict[str, str]:
    return {t: t for t in snap.techniques} | dict(snap.technique_lookup)


def judgement(verdict: rules.PairVerdict) -> s.PairJudgement:
    return s.PairJudgement(
        a=verdict.a,
        b=verdict.b,
        verdict=Verdict(verdict.verdict),
        confidence=Confidence(verdict.confidence) if verdict.confidence else None,
        note=verdict.note,
        inherited_from=list(verdict.inherited_from) if verdict.inherited_from else None,
        caveats=list(verdict.caveats),
        settings=list(verdict.settings),
        versions=dict(verdict.versions),
        recommended_versions=dict(verdict.recommended_versions),
        sources=list(verdict.sources),
        requirements=[requirement_fields(r) for r in verdict.requirements],
    )


def compatibility(snap: Snapshot, values: Sequence[str]) -> s.Compatibility:
    """Every pair among the techniques, judged, and the worst verdict overall."""
    ids = _technique_ids(snap, values)
    if len(ids) < 2:
        raise InvalidInput(
            "Give at least two different techniques.",
            allowed=list(snap.techniques),
            errors=[{"location": "query.technique", "message": "at least two are required"}],
        )
    knowledge = catalog_of(snap).knowledge
    verdicts = [rules.pair_verdict(knowledge, a, b) for a, b in combinations(ids, 2)]
    return s.Compatibility(
        revision=snap.revision,
        techniques=ids,
        overall=Verdict(rules.overall_verdict(v.verdict for v in verdicts)),
        pairs=[judgement(v) for v in verdicts],
    )


def _location(
    item: s.PlannedTechniqueIn | s.PlannedLibraryIn | s.PlannedSettingIn | s.PlannedModelIn,
) -> Location | None:
    return Location(item.file, item.line, item.key) if item.file else None


def to_plan(snap: Snapshot, body: s.CheckRequest) -> Plan:
    """Resolve a check request into a Plan of ids; 422 for anything unknown or malformed."""
    catalog = catalog_of(snap)
    errors: list[dict[str, Any]] = []
    plan = Plan()
    for index, item in enumerate(body.techniques):
        entry = item if isinstance(item, s.PlannedTechniqueIn) else s.PlannedTechniqueIn(id=item)
        found = catalog.technique(entry.id)
        if found is None:
            errors.append(
                {
                    "location": f"body.techniques.{index}",
                    "message": f"unknown technique {entry.id!r}",
                    "input": entry.id,
                    "did_you_mean": catalog.closest_technique(entry.id),
                    "allowed": list(snap.techniques),
                }
            )
            continue
        plan.add_technique(PlannedTechnique(found, _location(entry), entry.id))
    for index, value in enumerate(body.scenarios):
        found = catalog.scenario(value)
        if found is None:
            errors.append(
                {
                    "location": f"body.scenarios.{index}",
                    "message": f"unknown scenario {value!r}",
                    "input": value,
                    "did_you_mean": catalog.closest_scenario(value),
                    "allowed": list(snap.scenarios),
                }
            )
        elif found not in plan.scenarios:
            plan.scenarios.append(found)
    for name, pin in body.libraries.items():
        pinned = pin if isinstance(pin, s.PlannedLibraryIn) else s.PlannedLibraryIn(version=pin)
        library = PlannedLibrary(normalize_name(name), pinned.version, _location(pinned))
        plan.libraries[library.name] = library
    for name, given in body.settings.items():
        if name not in SETTINGS:
            errors.append(
                {
                    "location": f"body.settings.{name}",
                    "message": f"unknown setting {name!r}",
                    "input": name,
                    "did_you_mean": _closest_setting(name),
                    "allowed": sorted(SETTINGS),
                }
            )
            continue
        read: SettingValue = tuple(given.value) if isinstance(given.value, list) else given.value
        plan.add_setting(PlannedSetting(name, read, _location(given), given.guessed))
    if body.model is not None:
        named = body.model if isinstance(body.model, s.PlannedModelIn) else None
        name = named.name if named else str(body.model)
        plan.model = PlannedModel(name, _location(named) if named else None)
    where = placement(body)
    # Nothing named beyond the configs: nothing to be wrong (and no offerings to read).
    known = offering_knowledge(snap)
    for problem in problems(entity_document(snap), where, known) if where.asked else ():
        errors.append(
            {
                "location": f"body.{problem.field}",
                "message": problem.message,
                "did_you_mean": None,
                "allowed": list(problem.allowed),
            }
        )
    if errors:
        raise InvalidInput(
            f"{len(errors)} value(s) of the plan are not known.",
            errors=errors,
            **({"allowed": errors[0]["allowed"], "did_you_mean": errors[0]["did_you_mean"]}
               if len(errors) == 1 else {}),
        )  # fmt: skip
    return plan


def placement(body: s.CheckRequest) -> Placement:
    """Where the request says the plan runs (its model travels in the plan itself)."""
    return Placement(offering=body.offering, hardware=body.hardware, gpus=body.gpus)


def entity_document(snap: Snapshot) -> dict[str, Any]:
    """The models, hardware, platforms and offerings of `snap` as the snapshot document holds
    them: what `model_findings` reads offline from the exported file."""
    result: dict[str, Any] = snap.memo("compat.entities", lambda: offerings.export_entities(snap))
    return result


def offering_knowledge(snap: Snapshot) -> OfferingKnowledge:
    """The models, platforms and offerings of `snap` with their look-ups, read once."""
    result: OfferingKnowledge = snap.memo(
        "compat.offering_knowledge", lambda: OfferingKnowledge.from_document(entity_document(snap))
    )
    return result


def _closest_setting(name: str) -> str | None:
    found = difflib.get_close_matches(name, list(SETTINGS), n=1, cutoff=0.5)
    return found[0] if found else None


def report_out(report: rules.Report, plan: Plan) -> s.CheckReport:
    counts = Counter(f.severity for f in report.findings)
    return s.CheckReport(
        revision=report.revision,
        verdict=report.verdict,
        techniques=[t.id for t in plan.techniques],
        scenarios=list(plan.scenarios),
        findings=[
            s.FindingOut(
                rule=f.rule,
                name=rules.RULES[f.rule].name,
                severity=f.severity,
                message=f.message,
                techniques=list(f.techniques),
                scenario=f.scenario,
                evidence=list(f.evidence),
                fix=f.fix,
                settings=list(f.settings),
                details=list(f.details),
                locations=[s.LocationOut(file=x.file, line=x.line, key=x.key) for x in f.locations],
            )
            for f in report.findings
        ],
        summary={severity: counts.get(severity, 0) for severity in rules.SEVERITIES},
    )


def check(snap: Snapshot, body: s.CheckRequest) -> s.CheckReport:
    """Check a plan against `snap`: pairs, versions, declared scenarios, and its model,
    offering and fit on the hardware named."""
    plan = to_plan(snap, body)
    try:
        report = rules.check_plan(knowledge_for(snap, plan.scenarios), plan)
        known = offering_knowledge(snap)
        extra = model_findings(entity_document(snap), plan, placement(body), known)
        report = with_findings(report, extra)
    except rules.BadVersion as exc:
        raise InvalidInput(
            f"{exc.value!r} is not a valid version of {exc.library} (PEP 440).",
            errors=[{
                "location": f"body.libraries.{exc.library}",
                "message": "not a PEP 440 version, e.g. 0.13.2",
                "input": exc.value,
            }],
        ) from None  # fmt: skip
    return report_out(report, plan)


def pairs(snap: Snapshot) -> s.PairList:
    return s.PairList(
        revision=snap.revision,
        items=[
            s.PairRead(**pair_fields(p), since_revision=p.since_revision)
            for p in snap.pairs.values()
        ],
    )
