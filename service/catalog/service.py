"""Catalog reads over a snapshot: look-ups, filters, rows, columns and recommendations.

Everything here is computed from an immutable `Snapshot`; nothing queries the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from service.catalog import schemas as s
from service.errors import InvalidInput, unknown_id
from service.snapshot import CellData, ScenarioData, Snapshot, TechniqueData

_T = TypeVar("_T")
_Item = TypeVar("_Item", ScenarioData, TechniqueData)

SCORE = {"yes": 1.0, "partial": 0.5, "no": 0.0, "unknown": 0.0}


def technique(snap: Snapshot, value: str) -> TechniqueData:
    """The technique with this id or alias, or a 404 naming the valid ids and the closest one."""
    found = snap.find_technique(value)
    if found is None:
        raise unknown_id(
            "technique", value, _spellings(snap.techniques.values(), snap.technique_lookup)
        )
    return found


def scenario(snap: Snapshot, value: str) -> ScenarioData:
    """The scenario with this id, alias or exact title, or a 404 naming the valid ids."""
    found = snap.find_scenario(value)
    if found is None:
        raise unknown_id(
            "scenario", value, _spellings(snap.scenarios.values(), snap.scenario_lookup)
        )
    return found


def _spellings(
    items: Iterable[ScenarioData] | Iterable[TechniqueData], lookup: Mapping[str, str]
) -> dict[str, str]:
    # Ids first so that the list of valid ids keeps display order.
    return {item.id: item.id for item in items} | dict(lookup)


def technique_read(snap: Snapshot, t: TechniqueData) -> s.TechniqueRead:
    def build() -> s.TechniqueRead:
        return s.TechniqueRead(
            id=t.id,
            name=t.name,
            full_name=t.full_name,
            category=t.category,
            summary=t.summary,
            aliases=list(t.aliases),
            paper=s.Paper.model_validate(t.paper) if t.paper else None,
            facts=[s.Fact.model_validate(f) for f in t.facts],
            libraries=[s.Library.model_validate(lib) for lib in t.libraries],
            parent=t.parent,
            children=[c.id for c in snap.techniques.values() if c.parent == t.id],
            sources=list(t.sources),
            since_revision=t.since_revision,
        )

    result: s.TechniqueRead = snap.memo(("technique_read", t.id), build)
    return result


def scenario_read(sc: ScenarioData) -> s.ScenarioRead:
    return s.ScenarioRead(
        id=sc.id,
        title=sc.title,
        kind=sc.kind,
        description=sc.description,
        aliases=list(sc.aliases),
        sources=list(sc.sources),
        since_revision=sc.since_revision,
    )


def technique_ref(t: TechniqueData) -> s.TechniqueRef:
    return s.TechniqueRef(id=t.id, name=t.name)


def scenario_ref(sc: ScenarioData) -> s.ScenarioRef:
    return s.ScenarioRef(id=sc.id, title=sc.title, kind=sc.kind)


def cell_of(snap: Snapshot, scenario_id: str, technique_id: str) -> CellData:
    """The cell, or an `unknown` cell when it was never set."""
    found = snap.cells.get((scenario_id, technique_id))
    if found is None:
        return CellData(scenario_id, technique_id, "unknown", "", (), 0)
    return found


def cell_read(cell: CellData) -> s.Cell:
    return s.Cell(
        scenario=cell.scenario,
        technique=cell.technique,
        support=s.Support(cell.support),
        note=cell.note,
        sources=list(cell.sources),
        since_revision=cell.since_revision or None,
    )


def _resolve_all(
    snap: Snapshot, scenario_ids: Sequence[str], technique_ids: Sequence[str]
) -> tuple[list[ScenarioData], list[TechniqueData]]:
    # Filters keep the matrix's own order, whatever order the query named them in.
    scenarios = list(snap.scenarios.values())
    if scenario_ids:
        chosen = {scenario(snap, v).id for v in scenario_ids}
        scenarios = [sc for sc in scenarios if sc.id in chosen]
    techniques = list(snap.techniques.values())
    if technique_ids:
        picked = {technique(snap, v).id for v in technique_ids}
        techniques = [t for t in techniques if t.id in picked]
    return scenarios, techniques


def _unique(items: list[_Item]) -> list[_Item]:
    seen: set[str] = set()
    out: list[_Item] = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def matrix(
    snap: Snapshot,
    scenario_ids: Sequence[str] = (),
    technique_ids: Sequence[str] = (),
    support: Sequence[s.Support] = (),
) -> tuple[list[ScenarioData], list[TechniqueData], list[CellData]]:
    """Rows, columns and cells of the matrix, filtered; missing cells count as `unknown`.

    With a `support` filter, rows and columns shrink to those holding a matching cell.
    """
    scenarios, techniques = _resolve_all(snap, scenario_ids, technique_ids)
    wanted = {str(level) for level in support}
    cells = [
        cell
        for sc in scenarios
        for t in techniques
        if (cell := cell_of(snap, sc.id, t.id)) and (not wanted or cell.support in wanted)
    ]
    if wanted:
        kept_s = {c.scenario for c in cells}
        kept_t = {c.technique for c in cells}
        scenarios = [sc for sc in scenarios if sc.id in kept_s]
        techniques = [t for t in techniques if t.id in kept_t]
    return scenarios, techniques, cells


def matrix_read(
    snap: Snapshot,
    scenarios: list[ScenarioData],
    techniques: list[TechniqueData],
    cells: list[CellData],
) -> s.Matrix:
    return s.Matrix(
        revision=snap.revision,
        scenarios=[scenario_ref(sc) for sc in scenarios],
        techniques=[technique_ref(t) for t in techniques],
        cells=[cell_read(c) for c in cells],
    )


def scenario_row(
    snap: Snapshot, scenario_id: str, support: Sequence[s.Support] = ()
) -> s.ScenarioTechniques:
    """One scenario's row: every technique's verdict for it."""
    sc = scenario(snap, scenario_id)
    wanted = {str(level) for level in support}
    items = [
        s.TechniqueVerdict(
            technique=technique_ref(t),
            support=s.Support(cell.support),
            note=cell.note,
            sources=list(cell.sources),
        )
        for t in snap.techniques.values()
        if (cell := cell_of(snap, sc.id, t.id)) and (not wanted or cell.support in wanted)
    ]
    return s.ScenarioTechniques(revision=snap.revision, scenario=scenario_ref(sc), items=items)


def technique_column(
    snap: Snapshot, technique_id: str, support: Sequence[s.Support] = ()
) -> s.TechniqueScenarios:
    """One technique's column: its verdict for every scenario."""
    t = technique(snap, technique_id)
    wanted = {str(level) for level in support}
    items = [
        _scenario_verdict(sc, cell)
        for sc in snap.scenarios.values()
        if (cell := cell_of(snap, sc.id, t.id)) and (not wanted or cell.support in wanted)
    ]
    return s.TechniqueScenarios(revision=snap.revision, technique=technique_ref(t), items=items)


def _scenario_verdict(sc: ScenarioData, cell: CellData) -> s.ScenarioVerdict:
    return s.ScenarioVerdict(
        scenario=scenario_ref(sc),
        support=s.Support(cell.support),
        note=cell.note,
        sources=list(cell.sources),
    )


def recommend(snap: Snapshot, scenario_ids: Sequence[str]) -> s.Recommendations:
    """Techniques whose support is yes or partial for every scenario, ranked by score.

    Score is the mean of yes = 1 and partial = 0.5; ties keep the matrix's column order.
    Techniques that fail a scenario are listed in `excluded` with the verdicts that ruled them out.
    """
    if not scenario_ids:
        raise InvalidInput(
            "Give at least one scenario.",
            allowed=list(snap.scenarios),
            errors=[{"location": "query.scenario", "message": "at least one scenario is required"}],
        )
    scenarios = _unique([scenario(snap, v) for v in scenario_ids])
    ranked: list[tuple[float, int, TechniqueData, list[s.ScenarioVerdict]]] = []
    excluded: list[s.Excluded] = []
    for position, t in enumerate(snap.techniques.values()):
        verdicts = [_scenario_verdict(sc, cell_of(snap, sc.id, t.id)) for sc in scenarios]
        failing = [v for v in verdicts if v.support not in (s.Support.yes, s.Support.partial)]
        if failing:
            excluded.append(s.Excluded(technique=technique_ref(t), failing=failing))
            continue
        score = sum(SCORE[v.support] for v in verdicts) / len(verdicts)
        ranked.append((score, position, t, verdicts))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return s.Recommendations(
        revision=snap.revision,
        scenarios=[scenario_ref(sc) for sc in scenarios],
        items=[
            s.Recommendation(
                rank=i, technique=technique_ref(t), score=round(score, 4), verdicts=verdicts
            )
            for i, (score, _, t, verdicts) in enumerate(ranked, start=1)
        ],
        excluded=excluded,
    )


def page(items: Sequence[_T], limit: int, offset: int) -> list[_T]:
    """One page of a list."""
    return list(items[offset : offset + limit])
