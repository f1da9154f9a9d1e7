"""What the matrix, cell and diff pages show, built from the catalog and history services.

Functions here read cells through the snapshot and revisions through a connection: call them
from a worker thread. They raise the service's typed errors (`BadRequest`, `NotFound`) for bad
input, which the router renders as an HTML error page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service.catalog import service as catalog
from service.errors import BadRequest
from service.history import service as history
from service.snapshot import CellData, ScenarioData, Snapshot, TechniqueData
from service.vocabulary import SCENARIO_KINDS, SUPPORT_LEVELS, Support

PAGE_ROWS = 30
"""Scenario rows a matrix page shows: a catalog of a million cells is read a window at a time."""
PAGE_COLUMNS = 20
"""Technique columns a matrix page shows at a time."""
FEED_PAGE = 100
"""Revisions read from the history per query while the revision index is built."""
PICKER_REVISIONS = 50
"""Revisions a revision picker lists (the one read is always among them); `?at=N` reads any."""
DIFF_REVISIONS = 200
"""The most revisions one diff lists; a wider range says how many were left out."""


@dataclass(frozen=True, slots=True)
class MatrixQuery:
    """The matrix page's state, as its URL holds it (ids resolved, numbers checked)."""

    kind: str | None = None
    support: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    page: int = 1
    cols: int = 1

    def params(self) -> dict[str, Any]:
        """The query parameters that reproduce this state (defaults left out)."""
        return {
            "kind": self.kind,
            "support": list(self.support),
            "technique": list(self.techniques),
            "page": self.page if self.page > 1 else None,
            "cols": self.cols if self.cols > 1 else None,
        }


def positive(name: str, value: str | None, default: int = 1) -> int:
    """A 1-based page or revision number from the query, or a 400 saying what is wrong."""
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1 or len(value) > 18:
        raise BadRequest(f"{name}={value!r} is not a number from 1 up.", parameter=name)
    return int(value)


def matrix_query(
    snap: Snapshot,
    kind: str | None,
    support: Sequence[str],
    techniques: Sequence[str],
    page: str | None,
    cols: str | None,
) -> MatrixQuery:
    """Check the matrix filters; unknown techniques get the API's 404 with `did_you_mean`."""
    if kind and kind not in SCENARIO_KINDS:
        raise BadRequest(f"kind={kind!r} is not one of {', '.join(SCENARIO_KINDS)}.")
    bad = [s for s in support if s not in SUPPORT_LEVELS]
    if bad:
        raise BadRequest(f"support={bad[0]!r} is not one of {', '.join(SUPPORT_LEVELS)}.")
    ids = list(dict.fromkeys(catalog.technique(snap, t).id for t in techniques if t))
    return MatrixQuery(
        kind=kind or None,
        support=tuple(level for level in SUPPORT_LEVELS if level in support),
        techniques=tuple(t for t in snap.techniques if t in ids),
        page=positive("page", page),
        cols=positive("cols", cols),
    )


@dataclass(frozen=True, slots=True)
class Window:
    """One page of the matrix: its rows and columns, their cells, and where it lies."""

    scenarios: list[ScenarioData]
    techniques: list[TechniqueData]
    cells: Mapping[tuple[str, str], CellData]
    total_scenarios: int
    total_techniques: int
    page: int
    pages: int
    cols: int
    col_pages: int
    wanted: frozenset[str] = frozenset()

    @property
    def first_row(self) -> int:
        """The 1-based position of this page's first scenario among those filtered."""
        return (self.page - 1) * PAGE_ROWS + 1

    @property
    def first_column(self) -> int:
        """The 1-based position of this page's first technique among those filtered."""
        return (self.cols - 1) * PAGE_COLUMNS + 1

    def cell(self, scenario: str, technique: str) -> CellData:
        """The cell at a crossing of this window (`unknown` when never set)."""
        return self.cells.get((scenario, technique)) or catalog.unset_cell(scenario, technique)


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _axes(snap: Snapshot, q: MatrixQuery) -> tuple[list[ScenarioData], list[TechniqueData]]:
    """Every row and column the filters keep, before paging (memoized per snapshot)."""

    def build() -> tuple[list[ScenarioData], list[TechniqueData]]:
        scenarios = [sc for sc in snap.scenarios.values() if q.kind in (None, sc.kind)]
        if not q.support:
            techniques = [t for t in snap.techniques.values() if t.id in q.techniques]
            return scenarios, techniques or list(snap.techniques.values())
        # The API's support filter: rows and columns shrink to those holding a matching cell.
        view = catalog.matrix(
            snap,
            [sc.id for sc in scenarios] if q.kind else (),
            q.techniques,
            [Support(level) for level in q.support],
        )
        return view.scenarios, view.techniques

    axes: tuple[list[ScenarioData], list[TechniqueData]] = snap.memo(
        ("pages.axes", q.kind, q.support, q.techniques), build
    )
    return axes


def matrix_window(snap: Snapshot, q: MatrixQuery) -> Window:
    """The page of the matrix that `q` asks for (a page past the end shows the last one)."""
    scenarios, techniques = _axes(snap, q)
    pages, col_pages = _pages(len(scenarios), PAGE_ROWS), _pages(len(techniques), PAGE_COLUMNS)
    page, cols = min(q.page, pages), min(q.cols, col_pages)
    rows = scenarios[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]
    columns = techniques[(cols - 1) * PAGE_COLUMNS : cols * PAGE_COLUMNS]
    cells: dict[tuple[str, str], CellData] = {}
    if rows and columns:
        view = catalog.matrix(snap, [sc.id for sc in rows], [t.id for t in columns])
        cells = {(c.scenario, c.technique): c for c in view.cells()}
    return Window(
        rows,
        columns,
        cells,
        len(scenarios),
        len(techniques),
        page,
        pages,
        cols,
        col_pages,
        frozenset(q.support),
    )


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    number: int
    created_at: datetime
    author: str
    reason: str
    changes: int


@dataclass(frozen=True, slots=True)
class CellChange:
    """A revision that set a cell: its support before (None: created) and after."""

    revision: RevisionInfo
    before: str | None
    after: str | None
    note_changed: bool
    sources_changed: bool


@dataclass(frozen=True, slots=True)
class RevisionIndex:
    """Every revision up to the snapshot's, newest first, and the cell changes each made."""

    revisions: list[RevisionInfo]
    cells: dict[str, list[CellChange]] = field(default_factory=dict)

    def picker(self, current: int) -> list[RevisionInfo]:
        """The revisions a picker offers: the newest `PICKER_REVISIONS`, and `current`."""
        shown = self.revisions[:PICKER_REVISIONS]
        if all(r.number != current for r in shown):
            shown += [r for r in self.revisions if r.number == current]
        return shown

    def cell_history(self, scenario: str, technique: str, upto: int) -> list[CellChange]:
        """The revisions up to `upto` that changed this cell, newest first."""
        changes = self.cells.get(f"{scenario}/{technique}", [])
        return [c for c in reversed(changes) if c.revision.number <= upto]


def revision_index(conn: sa.Connection, snap: Snapshot) -> RevisionIndex:
    """The history up to `snap.revision`, read once per snapshot through the change feed.

    The feed holds every revision's diff; only the cell changes are kept, as support levels.
    """

    def build() -> RevisionIndex:
        revisions: list[RevisionInfo] = []
        cells: dict[str, list[CellChange]] = {}
        since = 0
        while True:
            feed = history.changes_since(conn, since, snap.revision, FEED_PAGE)
            for item in feed.items:
                info = RevisionInfo(
                    item.number, item.created_at, item.author, item.reason, len(item.changes)
                )
                revisions.append(info)
                for change in item.changes:
                    if change.kind == "cell":
                        cells.setdefault(change.id, []).append(_cell_change(info, change))
            if not feed.has_more:
                break
            since = feed.next_since
        revisions.reverse()
        return RevisionIndex(revisions, cells)

    index: RevisionIndex = snap.memo("pages.revision_index", build)
    return index


def _cell_change(info: RevisionInfo, change: Any) -> CellChange:
    before: dict[str, Any] = change.before or {}
    after: dict[str, Any] = change.after or {}
    return CellChange(
        info,
        before.get("support") if change.before is not None else None,
        after.get("support") if change.after is not None else None,
        "note" in after or "note" in before,
        "sources" in after or "sources" in before,
    )


@dataclass(frozen=True, slots=True)
class CellDetail:
    """What a cell's panel shows."""

    scenario: ScenarioData
    technique: TechniqueData
    cell: CellData
    changes: list[CellChange]


def cell_detail(snap: Snapshot, index: RevisionIndex, scenario: str, technique: str) -> CellDetail:
    """A cell with its note, sources and the revisions that changed it (404s for bad ids)."""
    sc = catalog.scenario(snap, scenario)
    t = catalog.technique(snap, technique)
    cell = catalog.cell_of(snap, sc.id, t.id)
    return CellDetail(sc, t, cell, index.cell_history(sc.id, t.id, snap.revision))


def split_cell(value: str) -> tuple[str, str]:
    """`scenario/technique` as the `cell` parameter writes it."""
    scenario, slash, technique = value.partition("/")
    if not slash or not scenario or not technique:
        raise BadRequest(f"cell={value!r} should be scenario/technique, e.g. reduce-memory/lora.")
    return scenario, technique


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One change of a diff, with the revision that made it."""

    revision: RevisionInfo
    op: str
    kind: str
    id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed after revision `start` up to revision `end`."""

    start: int
    end: int
    revisions: list[RevisionInfo]
    entries: list[DiffEntry]
    truncated: bool
    cells: dict[tuple[str, str], DiffEntry]
    """The last change of each cell in the range, by (scenario id, technique id)."""


def diff(conn: sa.Connection, start: int, end: int) -> Diff:
    """The revisions after `start` up to `end`, oldest first, every change listed."""
    if start >= end:
        raise BadRequest(
            f"from={start} must be older than to={end}: a diff reads the revisions after `from`"
            " up to `to`."
        )
    feed = history.changes_since(conn, start, end, DIFF_REVISIONS)
    revisions: list[RevisionInfo] = []
    entries: list[DiffEntry] = []
    cells: dict[tuple[str, str], DiffEntry] = {}
    for item in feed.items:
        info = RevisionInfo(
            item.number, item.created_at, item.author, item.reason, len(item.changes)
        )
        revisions.append(info)
        for change in item.changes:
            entry = DiffEntry(info, change.op, change.kind, change.id, change.before, change.after)
            entries.append(entry)
            if change.kind == "cell":
                scenario, _, technique = change.id.partition("/")
                cells[(scenario, technique)] = entry
    return Diff(start, end, revisions, entries, feed.has_more, cells)


def diff_axes(
    snap: Snapshot, changes: Diff
) -> tuple[list[ScenarioData], list[TechniqueData], dict[tuple[str, str], CellData]]:
    """The rows and columns of `snap` that hold a changed cell, and their cells: the grid a
    diff highlights (bounded by a page's size, like the matrix)."""
    changed_rows = {scenario for scenario, _ in changes.cells}
    changed_columns = {technique for _, technique in changes.cells}
    rows = [sc for sc in snap.scenarios.values() if sc.id in changed_rows]
    columns = [t for t in snap.techniques.values() if t.id in changed_columns]
    rows, columns = rows[:PAGE_ROWS], columns[:PAGE_COLUMNS]
    if not rows or not columns:
        return rows, columns, {}
    view = catalog.matrix(snap, [sc.id for sc in rows], [t.id for t in columns])
    return rows, columns, {(c.scenario, c.technique): c for c in view.cells()}
