"""`CellIndex`: the cells valid at one revision, read from the database through its indexes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.models import CellVersion, table_of
from service.snapshot.data import CellData, CellKey, ScenarioData, TechniqueData, _sources
from service.snapshot.held import HeldCells
from service.snapshot.packed import PackedCells

_CELLS = table_of(CellVersion)


def valid_at(table: sa.Table, revision: int) -> sa.ColumnElement[bool]:
    """Rows of `table` valid at `revision`."""
    # An explicit bound rather than "valid_to IS NULL": a write committed while we read closes
    # rows with valid_to = N + 1, which this filter still counts as valid at N.
    return sa.and_(
        table.c.valid_from <= revision,
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > revision),
    )


# Ids per IN (...) list. A query binds at most two such lists and the revision's two bounds:
# 2 x 450 + 2 = 902 parameters, under the 999 of SQLite builds older than 3.32.
_IN_CHUNK = 450


class CellIndex:
    """The cells valid at one revision: read from the database on demand through its indexes,
    or from memory when the snapshot holds them (`held`, a small catalog; see
    `service.snapshot.held`). Both give the same answers in the same order.

    Every method but `column` returns cells in display order (scenario rows, technique
    columns, both in creation order, which is their key order). A cell never set is absent:
    callers read it as `unknown`. Cells of a technique or scenario not in this revision are
    left out.
    """

    __slots__ = (
        "_engine", "_s_slug", "_scenarios", "_t_slug", "_techniques", "held", "packed", "revision",
    )  # fmt: skip

    def __init__(
        self,
        engine: Engine,
        revision: int,
        techniques: Mapping[str, TechniqueData],
        scenarios: Mapping[str, ScenarioData],
        held: HeldCells | None = None,
    ) -> None:
        self._engine = engine
        self.revision = revision
        self._techniques = techniques
        self._scenarios = scenarios
        self._t_slug = {t.key: t.id for t in techniques.values()}
        self._s_slug = {sc.key: sc.id for sc in scenarios.values()}
        self.held = held
        """Every cell of the revision in memory, or None: read them from the database."""
        self.packed: PackedCells | None = None
        """The newest revision's cells of a large catalog, packed, for `get`, `row` and
        `column` (the others read the database); or None."""

    @property
    def techniques(self) -> Mapping[str, TechniqueData]:
        """The techniques of this revision, by id."""
        return self._techniques

    @property
    def scenarios(self) -> Mapping[str, ScenarioData]:
        """The scenarios of this revision, by id."""
        return self._scenarios

    @property
    def technique_keys(self) -> Mapping[str, int]:
        """Database key by technique id (creation order)."""
        return {t.id: t.key for t in self._techniques.values()}

    @property
    def scenario_keys(self) -> Mapping[str, int]:
        """Database key by scenario id (creation order)."""
        return {sc.id: sc.key for sc in self._scenarios.values()}

    @property
    def lines_in_memory(self) -> bool:
        """True when `get`, `row` and `column` cost no I/O (held or packed cells)."""
        return self.held is not None or self.packed is not None

    @property
    def in_memory(self) -> bool:
        """True when reading cells costs no I/O (callers may then stay on the event loop)."""
        return self.held is not None

    def statement(self, *where: sa.ColumnElement[bool], ordered: bool = True) -> sa.Select[Any]:
        """The query of the cells valid at this revision that match `where`."""
        cv = _CELLS
        statement = sa.select(
            cv.c.scenario_id,
            cv.c.technique_id,
            cv.c.support,
            cv.c.note,
            sa.type_coerce(cv.c.sources, sa.Text),  # decoded below, once per distinct value
            cv.c.valid_from,
        ).where(valid_at(cv, self.revision), *where)
        if ordered:
            statement = statement.order_by(cv.c.scenario_id, cv.c.technique_id)
        return statement

    def decode(self, rows: Iterable[Sequence[Any]]) -> Iterator[CellData]:
        """The cells in rows that start as `statement` selects them; cells of a technique or
        scenario not in this revision are left out."""
        s_slug, t_slug = self._s_slug, self._t_slug
        for scenario_key, technique_key, support, note, sources, valid_from, *_ in rows:
            scenario = s_slug.get(scenario_key)
            technique = t_slug.get(technique_key)
            if scenario is None or technique is None:
                continue  # a cell of a retired technique or scenario is history
            yield CellData(scenario, technique, support, note, _sources(sources), valid_from)

    def read_all(self, conn: sa.Connection) -> dict[CellKey, CellData]:
        """Every cell valid at this revision, from the database on `conn`, in display order."""
        return {(c.scenario, c.technique): c for c in self.decode(conn.execute(self.statement()))}

    def _cells(self, *where: sa.ColumnElement[bool], ordered: bool = True) -> Iterator[CellData]:
        statement = self.statement(*where, ordered=ordered)
        with self._engine.connect() as conn:
            yield from self.decode(conn.execute(statement))

    def _query(self, *where: sa.ColumnElement[bool]) -> dict[CellKey, CellData]:
        return {(c.scenario, c.technique): c for c in self._cells(*where)}

    def get(self, scenario: str, technique: str) -> CellData | None:
        """One cell, or None when it was never set (or was removed)."""
        if self.held is not None:
            return self.held.get(scenario, technique)
        if self.packed is not None:
            return self.packed.get(scenario, technique)
        sc, t = self._scenarios.get(scenario), self._techniques.get(technique)
        if sc is None or t is None:
            return None
        found = self._query(_CELLS.c.scenario_id == sc.key, _CELLS.c.technique_id == t.key)
        return found.get((scenario, technique))

    def row(self, scenario: str) -> dict[str, CellData]:
        """One scenario's cells, by technique id."""
        if self.held is not None:
            return self.held.row(scenario)
        if self.packed is not None:
            return self.packed.row(scenario)
        sc = self._scenarios.get(scenario)
        if sc is None:
            return {}
        return {c.technique: c for c in self._cells(_CELLS.c.scenario_id == sc.key)}

    def column(self, technique: str) -> dict[str, CellData]:
        """One technique's cells, by scenario id (in no particular order)."""
        if self.held is not None:
            return self.held.column(technique)
        if self.packed is not None:
            return self.packed.column(technique)
        t = self._techniques.get(technique)
        if t is None:
            return {}
        # Unordered: the index on technique_id yields rows by valid_to; sorting them is wasted.
        return {c.scenario: c for c in self._cells(_CELLS.c.technique_id == t.key, ordered=False)}

    def rows(self, scenarios: Iterable[str]) -> dict[CellKey, CellData]:
        """The cells of these scenarios' rows (unknown ids are ignored)."""
        return self.select(scenarios, None)

    def select(
        self, scenarios: Iterable[str] | None = None, techniques: Iterable[str] | None = None
    ) -> dict[CellKey, CellData]:
        """The cells at the crossing of these rows and columns (None: all of them).

        Both filters go to the database: one query per 450 scenarios, each restricted to the
        techniques when there are at most 450 of them (more are filtered as rows arrive), so a
        read costs about what it returns.
        """
        if self.held is not None:
            return self.held.select(scenarios, techniques)
        where: list[sa.ColumnElement[bool]] = []
        wanted: set[str] | None = None
        if techniques is not None:
            wanted = {t for t in techniques if t in self._techniques}
            if not wanted:
                return {}
            if len(wanted) <= _IN_CHUNK:
                where.append(self._in_columns(wanted))
                wanted = None
        if scenarios is None:
            found = self._query(*where)
        else:
            keys = sorted({self._scenarios[s].key for s in scenarios if s in self._scenarios})
            found = {}
            # Keys ascend, so the chunks' results, each in key order, concatenate in display
            # order.
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start : start + _IN_CHUNK]
                found.update(self._query(_CELLS.c.scenario_id.in_(chunk), *where))
        if wanted is not None:
            found = {k: c for k, c in found.items() if k[1] in wanted}
        return found

    def pick(self, keys: Iterable[CellKey]) -> dict[CellKey, CellData]:
        """These cells, by (scenario id, technique id); unknown or never-set ones are absent.

        Scattered cells are read a chunk of rows at a time, each query restricted to the
        columns asked of those rows, and kept only when asked for as rows arrive: what is held
        is what was asked, not the crossing of every row and column touched.
        """
        if self.held is not None:
            return self.held.pick(keys)
        if self.packed is not None:
            return self.packed.pick(keys)
        by_row: dict[str, set[str]] = {}
        for scenario, technique in keys:
            if scenario in self._scenarios and technique in self._techniques:
                by_row.setdefault(scenario, set()).add(technique)
        found: dict[CellKey, CellData] = {}
        rows = sorted(self._scenarios[sc].key for sc in by_row)
        for start in range(0, len(rows), _IN_CHUNK):
            chunk = rows[start : start + _IN_CHUNK]
            where: list[sa.ColumnElement[bool]] = [_CELLS.c.scenario_id.in_(chunk)]
            columns = set().union(*(by_row[self._s_slug[key]] for key in chunk))
            if len(columns) <= _IN_CHUNK:
                where.append(self._in_columns(columns))
            for cell in self._cells(*where):
                if cell.technique in by_row[cell.scenario]:
                    found[(cell.scenario, cell.technique)] = cell
        return found

    def _in_columns(self, techniques: Iterable[str]) -> sa.ColumnElement[bool]:
        """`technique_id IN (...)` for these technique ids (at most `_IN_CHUNK` of them)."""
        return _CELLS.c.technique_id.in_(sorted(self._techniques[t].key for t in techniques))
