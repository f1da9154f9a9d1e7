"""Catalog reads over a snapshot: look-ups, filters, rows, columns and recommendations.

Everything here is computed from an immutable `Snapshot`; the only database reads are the cells
a request needs, through `Snapshot.cells` (so call these from a worker thread, not the event loop).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic_core import to_json

from service.catalog import fit
from service.catalog import schemas as s
from service.catalog.fit import FitQuestion
from service.errors import InvalidInput, unknown_id
from service.estimates.recommend import Status, TechniqueFit, fit_techniques
from service.snapshot import CellData, ScenarioData, Snapshot, TechniqueData
from service.snapshot.packed import LEVELS
from service.vocabulary import Support

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

    result: s.TechniqueRead = snap.entity_memo(("technique_read", t.id), build)
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


def _technique_refs(snap: Snapshot) -> dict[str, s.TechniqueRef]:
    # Built once per snapshot: a column or the matrix repeats the same few thousand refs.
    refs: dict[str, s.TechniqueRef] = snap.entity_memo(
        "technique_refs", lambda: {t.id: technique_ref(t) for t in snap.techniques.values()}
    )
    return refs


def _scenario_refs(snap: Snapshot) -> dict[str, s.ScenarioRef]:
    refs: dict[str, s.ScenarioRef] = snap.entity_memo(
        "scenario_refs", lambda: {sc.id: scenario_ref(sc) for sc in snap.scenarios.values()}
    )
    return refs


def unset_cell(scenario_id: str, technique_id: str) -> CellData:
    """How a cell never set reads: `unknown`, without note or sources."""
    return CellData(scenario_id, technique_id, "unknown", "", (), 0)


def cell_of(snap: Snapshot, scenario_id: str, technique_id: str) -> CellData:
    """The cell, or an `unknown` cell when it was never set."""
    return snap.cells.get(scenario_id, technique_id) or unset_cell(scenario_id, technique_id)


def cell_fields(cell: CellData) -> dict[str, Any]:
    """A cell as the plain values of `s.Cell`, for validating many cells in one call."""
    return {
        "scenario": cell.scenario,
        "technique": cell.technique,
        "support": cell.support,
        "note": cell.note,
        "sources": cell.sources,
        "since_revision": cell.since_revision or None,
    }


def cell_read(cell: CellData) -> s.Cell:
    return s.Cell.model_validate(cell_fields(cell))


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


CHUNK_ROWS = 100
"""Scenario rows read from the database at a time while a matrix is written out."""


@dataclass(frozen=True, slots=True)
class MatrixView:
    """A filtered matrix: its rows and columns, and its cells read chunk by chunk on demand.

    A matrix of a million cells is never held whole: `chunks()` reads `CHUNK_ROWS` scenario rows
    at a time, so writing it out costs memory for one chunk. Missing cells read as `unknown`.
    """

    snap: Snapshot
    scenarios: list[ScenarioData]
    techniques: list[TechniqueData]
    wanted: frozenset[str] = frozenset()
    all_techniques: bool = True

    def chunks(self) -> Iterator[tuple[list[ScenarioData], list[CellData]]]:
        """(scenario rows, their cells in display order), `CHUNK_ROWS` rows at a time."""
        technique_ids = None if self.all_techniques else [t.id for t in self.techniques]
        for start in range(0, len(self.scenarios), CHUNK_ROWS):
            part = self.scenarios[start : start + CHUNK_ROWS]
            found = self.snap.cells.select([sc.id for sc in part], technique_ids)
            yield (
                part,
                [
                    cell
                    for sc in part
                    for t in self.techniques
                    if (cell := found.get((sc.id, t.id)) or unset_cell(sc.id, t.id))
                    and (not self.wanted or cell.support in self.wanted)
                ],
            )

    def cells(self) -> list[CellData]:
        """Every cell at once (for small matrices and tests)."""
        return [cell for _, cells in self.chunks() for cell in cells]


def matrix(
    snap: Snapshot,
    scenario_ids: Sequence[str] = (),
    technique_ids: Sequence[str] = (),
    support: Sequence[Support] = (),
) -> MatrixView:
    """Rows, columns and cells of the matrix, filtered; missing cells count as `unknown`.

    With a `support` filter, rows and columns shrink to those holding a matching cell (found
    by one pass over the cells, chunk by chunk, before any of them is returned).
    """
    scenarios, techniques = _resolve_all(snap, scenario_ids, technique_ids)
    wanted = frozenset(str(level) for level in support)
    view = MatrixView(snap, scenarios, techniques, wanted, all_techniques=not technique_ids)
    if not wanted:
        return view
    kept_s: set[str] = set()
    kept_t: set[str] = set()
    for _, cells in view.chunks():
        for cell in cells:
            kept_s.add(cell.scenario)
            kept_t.add(cell.technique)
    return MatrixView(
        snap,
        [sc for sc in scenarios if sc.id in kept_s],
        [t for t in techniques if t.id in kept_t],
        wanted,
        all_techniques=False,
    )


def matrix_refs(view: MatrixView) -> tuple[list[s.ScenarioRef], list[s.TechniqueRef]]:
    """The row and column headers of a matrix view."""
    scenario_refs, technique_refs = _scenario_refs(view.snap), _technique_refs(view.snap)
    return (
        [scenario_refs[sc.id] for sc in view.scenarios],
        [technique_refs[t.id] for t in view.techniques],
    )


def scenario_row(
    snap: Snapshot, scenario_id: str, support: Sequence[Support] = ()
) -> s.ScenarioTechniques:
    """One scenario's row: every technique's verdict for it."""
    return s.ScenarioTechniques.model_validate(_row_document(snap, scenario_id, support))


def scenario_row_json(snap: Snapshot, scenario_id: str, support: Sequence[Support] = ()) -> bytes:
    """`scenario_row` as the JSON bytes its model serializes to, without building the model."""
    sc = scenario(snap, scenario_id)
    head = {"revision": snap.revision, "scenario": _ref_values(snap, "scenario")[sc.id]}
    row = snap.cells.row(sc.id)
    return _list_json(head, snap.techniques, row, support, _item_heads(snap, "technique"))


def technique_column(
    snap: Snapshot, technique_id: str, support: Sequence[Support] = ()
) -> s.TechniqueScenarios:
    """One technique's column: its verdict for every scenario."""
    return s.TechniqueScenarios.model_validate(_column_document(snap, technique_id, support))


def technique_column_json(
    snap: Snapshot, technique_id: str, support: Sequence[Support] = ()
) -> bytes:
    """`technique_column` as the JSON bytes its model serializes to, without building it."""
    t = technique(snap, technique_id)
    head = {"revision": snap.revision, "technique": _ref_values(snap, "technique")[t.id]}
    packed = snap.cells.packed
    found = packed.column_codes(t.id) if packed is not None else None
    if found is not None:
        return _packed_list_json(head, *found, support, _item_heads_in_order(snap))
    column = snap.cells.column(t.id)
    return _list_json(head, snap.scenarios, column, support, _item_heads(snap, "scenario"))


# A row or a column is validated into its model (`s.ScenarioTechniques`,
# `s.TechniqueScenarios`) for in-process callers, and written straight to JSON for the API: a
# column of a large catalog has thousands of items, and validating them costs more than reading
# them. The JSON is put together from pieces pydantic-core serialized (each ref as its model
# dumps it, once per snapshot; notes, sources, support levels), in the model's field order, so
# the bytes are the model's; the tests compare the two.


_PLAIN = b',"note":"","sources":[]}'
"""The end of an item without note or sources, after its support level."""

_LEVELS = {level: to_json(level) for level in SCORE}


def _item_heads(snap: Snapshot, kind: Literal["technique", "scenario"]) -> dict[str, bytes]:
    """`{"<kind>":<ref>,"support":` for each technique (or scenario), by id; once per snapshot."""

    def build() -> dict[str, bytes]:
        lead = b'{"' + kind.encode() + b'":'
        refs = _ref_values(snap, kind)
        return {k: lead + to_json(ref) + b',"support":' for k, ref in refs.items()}

    heads: dict[str, bytes] = snap.entity_memo(f"{kind}_item_heads", build)
    return heads


def _item_heads_in_order(snap: Snapshot) -> list[bytes]:
    """`_item_heads` of the scenarios, in display order; once per snapshot."""
    heads = _item_heads(snap, "scenario")
    ordered: list[bytes] = snap.entity_memo(
        "scenario_item_heads_in_order", lambda: list(heads.values())
    )
    return ordered


_CODE_ENDS = [(_LEVELS.get(level) or _LEVELS["unknown"]) + _PLAIN for level in LEVELS]
"""The end of an item without note or sources, by packed support code (0: never set)."""


def _rich_end(level: str, note: str, sources: tuple[str, ...]) -> bytes:
    """The end of an item with a note or sources, after its head."""
    notes = b',"note":' + to_json(note) + b',"sources":' + to_json(sources) + b"}"
    return (_LEVELS.get(level) or to_json(level)) + notes


def _packed_list_json(
    head: dict[str, Any],
    codes: bytes,
    rich: Mapping[int, tuple[str, tuple[str, ...]]],
    support: Sequence[Support],
    item_heads: list[bytes],
) -> bytes:
    """`_list_json` for a packed column (`PackedCells.column_codes`): the items are put together
    by `map` over the codes, in C, and the few with a note or sources then replaced."""
    items = list(map(bytes.__add__, item_heads, map(_CODE_ENDS.__getitem__, codes)))
    for i, (note, sources) in rich.items():
        items[i] = item_heads[i] + _rich_end(LEVELS[codes[i]], note, sources)
    if support:
        wanted = {str(level) for level in support}
        keep = [c for c, level in enumerate(LEVELS) if (level or "unknown") in wanted]
        items = [item for item, code in zip(items, codes, strict=True) if code in keep]
    return to_json(head)[:-1] + b',"items":[' + b",".join(items) + b"]}"


def _list_json(
    head: dict[str, Any],
    order: Iterable[str],
    cells: Mapping[str, CellData],
    support: Sequence[Support],
    item_heads: Mapping[str, bytes],
) -> bytes:
    """`head` as JSON with `"items"` appended: a verdict for each id of `order` (its cell in
    `cells`, else unknown), those with a support level in `support` (all when empty)."""
    wanted = {str(level) for level in support}
    items: list[bytes] = []
    for key in order:
        cell = cells.get(key)
        level, note, sources = ("unknown", "", ()) if cell is None else cell[2:5]
        if wanted and level not in wanted:
            continue
        if note or sources:
            items.append(item_heads[key] + _rich_end(level, note, sources))
        else:
            items.append(item_heads[key] + (_LEVELS.get(level) or to_json(level)) + _PLAIN)
    return to_json(head)[:-1] + b',"items":[' + b",".join(items) + b"]}"


def _row_document(snap: Snapshot, scenario_id: str, support: Sequence[Support]) -> dict[str, Any]:
    sc = scenario(snap, scenario_id)
    wanted = {str(level) for level in support}
    row = snap.cells.row(sc.id)
    refs = _ref_values(snap, "technique")
    items = [
        _verdict("technique", refs[t.id], cell)
        for t in snap.techniques.values()
        if (cell := row.get(t.id) or unset_cell(sc.id, t.id))
        and (not wanted or cell.support in wanted)
    ]
    return {"revision": snap.revision, "scenario": _ref_values(snap, "scenario")[sc.id],
            "items": items}  # fmt: skip


def _column_document(
    snap: Snapshot, technique_id: str, support: Sequence[Support]
) -> dict[str, Any]:
    t = technique(snap, technique_id)
    wanted = {str(level) for level in support}
    column = snap.cells.column(t.id)
    refs = _ref_values(snap, "scenario")
    items = [
        _verdict("scenario", refs[sc.id], cell)
        for sc in snap.scenarios.values()
        if (cell := column.get(sc.id) or unset_cell(sc.id, t.id))
        and (not wanted or cell.support in wanted)
    ]
    return {"revision": snap.revision, "technique": _ref_values(snap, "technique")[t.id],
            "items": items}  # fmt: skip


def _ref_values(snap: Snapshot, kind: Literal["technique", "scenario"]) -> dict[str, Any]:
    """Each technique's (or scenario's) ref as its model dumps it, by id; once per snapshot."""
    refs: Mapping[str, s.TechniqueRef | s.ScenarioRef] = (
        _technique_refs(snap) if kind == "technique" else _scenario_refs(snap)
    )
    values: dict[str, Any] = snap.entity_memo(
        f"{kind}_ref_values", lambda: {k: ref.model_dump() for k, ref in refs.items()}
    )
    return values


def _verdict(kind: str, ref: object, cell: CellData) -> dict[str, Any]:
    return {kind: ref, "support": cell.support, "note": cell.note, "sources": cell.sources}


def _scenario_verdict(ref: s.ScenarioRef, cell: CellData) -> s.ScenarioVerdict:
    return s.ScenarioVerdict.model_validate(_verdict("scenario", ref, cell))


_Ranked = tuple[
    tuple[int, float, float, int], TechniqueData, float | None, TechniqueFit | None,
    list[s.ScenarioVerdict],
]  # fmt: skip
"""A recommendation before numbering: its sort key, technique, score, fit and verdicts."""


def recommend(
    snap: Snapshot, scenario_ids: Sequence[str], question: FitQuestion | None = None
) -> s.Recommendations:
    """Techniques whose support is yes or partial for every scenario, ranked; with a model
    (`question.model`), each estimated for it, and those that fit first.

    Without a model the answer is the matrix's alone: ranked by score, the mean of yes = 1
    and partial = 0.5, ties in the matrix's column order; at least one scenario is required.

    With a model, scenarios are optional (none: every technique is a candidate) and the
    ranking is: (1) techniques estimated to fit at least one of the hardware named, then
    those whose fit is unknown (not estimated, no hardware named, or only hardware of
    unknown memory); (2) score, highest first; (3) per-GPU total, smallest first (none
    last); (4) the matrix's column order. A technique that suits the scenarios but misses
    every hardware named moves to `excluded` with reason `does-not-fit`, the shortfall on
    each hardware and its largest component.

    Techniques that fail a scenario are listed in `excluded` with the verdicts that ruled
    them out (with a model, reason `scenario`). Raises InvalidInput for bad fit parameters
    (see `service.catalog.fit.job`) and NotFound for an unknown scenario.
    """
    found = fit.job(snap, question or FitQuestion())
    if not scenario_ids and found is None:
        raise InvalidInput(
            "Give at least one scenario, or a model to rank every technique by fit.",
            allowed=list(snap.scenarios),
            errors=[{"location": "query.scenario", "message": "at least one scenario is required"}],
        )
    scenarios = _unique([scenario(snap, v) for v in scenario_ids])
    rows = snap.cells.rows(sc.id for sc in scenarios) if scenarios else {}
    refs = _scenario_refs(snap)
    suiting: list[tuple[int, TechniqueData, list[s.ScenarioVerdict]]] = []
    failing: dict[str, tuple[TechniqueData, list[s.ScenarioVerdict]]] = {}
    for position, t in enumerate(snap.techniques.values()):
        verdicts = [
            _scenario_verdict(refs[sc.id], rows.get((sc.id, t.id)) or unset_cell(sc.id, t.id))
            for sc in scenarios
        ]
        failed = [v for v in verdicts if v.support not in (Support.yes, Support.partial)]
        if failed:
            failing[t.id] = (t, failed)
        else:
            suiting.append((position, t, verdicts))
    fits = fit_techniques([t.id for _, t, _ in suiting], found) if found else {}
    ranked: list[_Ranked] = []
    excluded: dict[str, s.Excluded] = {}
    for position, t, verdicts in suiting:
        judged = fits.get(t.id)
        if judged is not None and judged.status is Status.DOES_NOT_FIT:
            excluded[t.id] = fit.exclusion(technique_ref(t), judged)
            continue
        score = sum(SCORE[v.support] for v in verdicts) / len(verdicts) if verdicts else None
        total = judged.per_gpu_total if judged else None
        unknown = judged is not None and judged.status is Status.UNKNOWN
        key = (int(unknown), -(score or 0.0), math.inf if total is None else total, position)
        ranked.append((key, t, score, judged, verdicts))
    reason: Literal["scenario"] | None = "scenario" if found else None
    for tid, (t, failed) in failing.items():
        excluded[tid] = s.Excluded(technique=technique_ref(t), failing=failed, reason=reason)
    ranked.sort(key=lambda pair: pair[0])
    return s.Recommendations(
        revision=snap.revision,
        scenarios=[scenario_ref(sc) for sc in scenarios],
        items=[
            s.Recommendation(
                rank=i,
                technique=technique_ref(t),
                score=None if score is None else round(score, 4),
                verdicts=verdicts,
                estimate=fit.estimate_read(judged) if judged else None,
            )
            for i, (_, t, score, judged, verdicts) in enumerate(ranked, start=1)
        ],
        excluded=[excluded[t.id] for t in snap.techniques.values() if t.id in excluded],
        fit=fit.job_read(found) if found else None,
        assumptions=fit.assumptions_read(fits.values()) if found else None,
    )


def page(items: Sequence[_T], limit: int, offset: int) -> list[_T]:
    """One page of a list."""
    return list(items[offset : offset + limit])
