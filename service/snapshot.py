"""The data as of one revision: techniques, scenarios and pairs in memory, cells by index.

Past revisions never change, so a snapshot of revision N is valid forever; only "which revision
is current" has to be checked per request. Techniques, scenarios and pairs (thousands at most)
are loaded once per revision into plain immutable objects. Cells (up to their product, a million
and more) stay in the database: `CellIndex` reads the cells a request needs, valid at N, through
indexes, so a read costs what it returns rather than what the catalog holds.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.db import current_revision
from service.models import (
    CellVersion,
    PairVersion,
    ScenarioVersion,
    TechniqueVersion,
    table_of,
)


@dataclass(frozen=True, slots=True)
class TechniqueData:
    key: int
    id: str
    name: str
    full_name: str | None
    category: str
    summary: str
    aliases: tuple[str, ...]
    paper: Mapping[str, Any] | None
    facts: tuple[Mapping[str, Any], ...]
    libraries: tuple[Mapping[str, Any], ...]
    parent: str | None
    sources: tuple[str, ...]
    since_revision: int


@dataclass(frozen=True, slots=True)
class ScenarioData:
    key: int
    id: str
    title: str
    kind: str
    description: str
    aliases: tuple[str, ...]
    sources: tuple[str, ...]
    since_revision: int


class CellData(NamedTuple):
    """One cell. A named tuple rather than a frozen dataclass: a column or the whole matrix
    makes thousands to millions of them per request, and a tuple is built three times faster."""

    scenario: str
    technique: str
    support: str
    note: str
    sources: tuple[str, ...]
    since_revision: int


@dataclass(frozen=True, slots=True)
class PairData:
    """What is known about combining techniques `a` and `b` (a created before b)."""

    a: str
    b: str
    verdict: str
    note: str
    caveats: tuple[str, ...]
    settings: tuple[str, ...]
    versions: Mapping[str, str]
    recommended_versions: Mapping[str, str]
    since: str | None
    confidence: str
    sources: tuple[str, ...]
    since_revision: int


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The key of an unordered pair in `Snapshot.pairs`."""
    return (a, b) if a <= b else (b, a)


CellKey = tuple[str, str]
"""(scenario id, technique id)."""


@functools.lru_cache(maxsize=4096)
def _decoded_sources(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _sources(value: str | list[str]) -> tuple[str, ...]:
    """A cell's sources from the database: JSON text (SQLite) or a list (PostgreSQL JSONB).

    Cells share few distinct source lists ("[]" above all), so text is decoded once per value.
    """
    return _decoded_sources(value) if isinstance(value, str) else tuple(value)


# Ids per IN (...) list. A query binds at most two such lists and the revision's two bounds:
# 2 x 450 + 2 = 902 parameters, under the 999 of SQLite builds older than 3.32.
_IN_CHUNK = 450


class CellIndex:
    """The cells valid at one revision, read from the database on demand through its indexes.

    Every method but `column` returns cells in display order (scenario rows, technique
    columns, both in creation order, which is their key order). A cell never set is absent:
    callers read it as `unknown`. Cells of a technique or scenario not in this revision are
    left out.
    """

    __slots__ = ("_engine", "_s_slug", "_scenarios", "_t_slug", "_techniques", "revision")

    def __init__(
        self,
        engine: Engine,
        revision: int,
        techniques: Mapping[str, TechniqueData],
        scenarios: Mapping[str, ScenarioData],
    ) -> None:
        self._engine = engine
        self.revision = revision
        self._techniques = techniques
        self._scenarios = scenarios
        self._t_slug = {t.key: t.id for t in techniques.values()}
        self._s_slug = {sc.key: sc.id for sc in scenarios.values()}

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
        ).where(_valid_at(cv, self.revision), *where)
        if ordered:
            statement = statement.order_by(cv.c.scenario_id, cv.c.technique_id)
        return statement

    def _cells(self, *where: sa.ColumnElement[bool], ordered: bool = True) -> Iterator[CellData]:
        statement = self.statement(*where, ordered=ordered)
        s_slug, t_slug = self._s_slug, self._t_slug
        with self._engine.connect() as conn:
            for scenario_key, technique_key, support, note, sources, valid_from in conn.execute(
                statement
            ):
                scenario = s_slug.get(scenario_key)
                technique = t_slug.get(technique_key)
                if scenario is None or technique is None:
                    continue  # a cell of a retired technique or scenario is history
                yield CellData(scenario, technique, support, note, _sources(sources), valid_from)

    def _query(self, *where: sa.ColumnElement[bool]) -> dict[CellKey, CellData]:
        return {(c.scenario, c.technique): c for c in self._cells(*where)}

    def get(self, scenario: str, technique: str) -> CellData | None:
        """One cell, or None when it was never set (or was removed)."""
        sc, t = self._scenarios.get(scenario), self._techniques.get(technique)
        if sc is None or t is None:
            return None
        found = self._query(_CELLS.c.scenario_id == sc.key, _CELLS.c.technique_id == t.key)
        return found.get((scenario, technique))

    def row(self, scenario: str) -> dict[str, CellData]:
        """One scenario's cells, by technique id."""
        sc = self._scenarios.get(scenario)
        if sc is None:
            return {}
        return {c.technique: c for c in self._cells(_CELLS.c.scenario_id == sc.key)}

    def column(self, technique: str) -> dict[str, CellData]:
        """One technique's cells, by scenario id (in no particular order)."""
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


_CELLS = table_of(CellVersion)
_TECHNIQUE_VERSIONS = table_of(TechniqueVersion)
_SCENARIO_VERSIONS = table_of(ScenarioVersion)
_PAIR_VERSIONS = table_of(PairVersion)


@dataclass(slots=True)
class Snapshot:
    """Techniques, scenarios and pairs valid at `revision`, in display order (creation order),
    and the index to its cells."""

    revision: int
    techniques: dict[str, TechniqueData]
    scenarios: dict[str, ScenarioData]
    cells: CellIndex
    pairs: dict[tuple[str, str], PairData] = field(default_factory=dict)
    technique_lookup: dict[str, str] = field(default_factory=dict)
    scenario_lookup: dict[str, str] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    entity_cache: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.technique_lookup or self.scenario_lookup:
            return  # given, from an earlier snapshot with the same techniques and scenarios
        # Ids win over aliases, names and titles when a spelling is ambiguous; case is ignored.
        spellings: list[tuple[dict[str, str], str, tuple[str, ...]]] = [
            (self.technique_lookup, t.id, (*t.aliases, t.name)) for t in self.techniques.values()
        ] + [
            (self.scenario_lookup, sc.id, (*sc.aliases, sc.title)) for sc in self.scenarios.values()
        ]
        for lookup, ident, others in spellings:
            for spelling in others:
                lookup.setdefault(spelling.casefold(), ident)
        for lookup, ident, _ in spellings:
            lookup[ident.casefold()] = ident

    def find_technique(self, value: str) -> TechniqueData | None:
        """The technique with this id or alias (case-insensitive), if any."""
        slug = self.technique_lookup.get(value.casefold())
        return self.techniques[slug] if slug else None

    def find_scenario(self, value: str) -> ScenarioData | None:
        """The scenario with this id, alias or exact title (case-insensitive), if any."""
        slug = self.scenario_lookup.get(value.casefold())
        return self.scenarios[slug] if slug else None

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value derived from this snapshot, computed once (snapshots never change)."""
        try:
            return self.cache[key]
        except KeyError:
            value = self.cache[key] = build()
            return value

    def entity_memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value derived from the techniques and scenarios alone (not from the revision
        number, cells or pairs): shared by later snapshots while those stay the same."""
        try:
            return self.entity_cache[key]
        except KeyError:
            value = self.entity_cache[key] = build()
            return value


def _valid_at(table: sa.Table, revision: int) -> sa.ColumnElement[bool]:
    # An explicit bound rather than "valid_to IS NULL": a write committed while we read closes
    # rows with valid_to = N + 1, which this filter still counts as valid at N.
    return sa.and_(
        table.c.valid_from <= revision,
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > revision),
    )


def _changed_keys(
    conn: sa.Connection, table: sa.Table, key: str, after: int, upto: int
) -> set[int]:
    """Entities with a version row written or closed by a revision in (after, upto]."""
    rows = conn.execute(
        sa.select(table.c[key])
        .where(
            sa.or_(
                table.c.valid_from.between(after + 1, upto),
                table.c.valid_to.between(after + 1, upto),
            )
        )
        .distinct()
    )
    return {int(row[0]) for row in rows}


def _technique(row: sa.Row[Any], slug_by_key: Mapping[int, str]) -> TechniqueData:
    return TechniqueData(
        key=row.technique_id,
        id=row.slug,
        name=row.name,
        full_name=row.full_name,
        category=row.category,
        summary=row.summary,
        aliases=tuple(row.aliases),
        paper=row.paper,
        facts=tuple(row.facts),
        libraries=tuple(row.libraries),
        parent=slug_by_key.get(row.parent_id) if row.parent_id is not None else None,
        sources=tuple(row.sources),
        since_revision=row.valid_from,
    )


def _scenario(row: sa.Row[Any]) -> ScenarioData:
    return ScenarioData(
        key=row.scenario_id,
        id=row.slug,
        title=row.title,
        kind=row.kind,
        description=row.description,
        aliases=tuple(row.aliases),
        sources=tuple(row.sources),
        since_revision=row.valid_from,
    )


def _load_entities(
    conn: sa.Connection, at: int
) -> tuple[dict[str, TechniqueData], dict[str, ScenarioData]]:
    tv, sv = _TECHNIQUE_VERSIONS, _SCENARIO_VERSIONS
    t_rows = conn.execute(sa.select(tv).where(_valid_at(tv, at)).order_by(tv.c.technique_id)).all()
    slug_by_key = {r.technique_id: r.slug for r in t_rows}
    techniques = {r.slug: _technique(r, slug_by_key) for r in t_rows}
    s_rows = conn.execute(sa.select(sv).where(_valid_at(sv, at)).order_by(sv.c.scenario_id)).all()
    return techniques, {r.slug: _scenario(r) for r in s_rows}


PATCH_LIMIT = 256
"""More techniques and scenarios changed than this since the previous snapshot: reload them all."""


def _patched_entities(
    conn: sa.Connection, previous: Snapshot, at: int
) -> tuple[dict[str, TechniqueData], dict[str, ScenarioData]] | None:
    """The previous snapshot's techniques and scenarios with the ones changed since replaced;
    the very same dicts when none changed; None when a full reload is simpler or needed."""
    tv, sv = _TECHNIQUE_VERSIONS, _SCENARIO_VERSIONS
    changed_t = _changed_keys(conn, tv, "technique_id", previous.revision, at)
    changed_s = _changed_keys(conn, sv, "scenario_id", previous.revision, at)
    if not changed_t and not changed_s:
        return previous.techniques, previous.scenarios
    if len(changed_t) + len(changed_s) > PATCH_LIMIT:
        return None
    techniques = previous.techniques
    if changed_t:
        rows = {
            r.technique_id: r
            for r in conn.execute(
                sa.select(tv).where(_valid_at(tv, at), tv.c.technique_id.in_(changed_t))
            )
        }
        kept = {t.key: t for t in previous.techniques.values() if t.key not in changed_t}
        # A technique kept as it was names its parent by id: if that parent was renamed or
        # retired, the kept technique changes too, so reload everything instead.
        gone = {t.id for t in previous.techniques.values() if t.key in changed_t} - {
            r.slug for r in rows.values()
        }
        if any(t.parent in gone for t in kept.values()):
            return None
        slug_by_key = {k: t.id for k, t in kept.items()} | {k: r.slug for k, r in rows.items()}
        by_key = kept | {k: _technique(r, slug_by_key) for k, r in rows.items()}
        techniques = {by_key[k].id: by_key[k] for k in sorted(by_key)}
    scenarios = previous.scenarios
    if changed_s:
        s_rows = conn.execute(
            sa.select(sv).where(_valid_at(sv, at), sv.c.scenario_id.in_(changed_s))
        )
        s_by_key = {sc.key: sc for sc in previous.scenarios.values() if sc.key not in changed_s}
        s_by_key |= {r.scenario_id: _scenario(r) for r in s_rows}
        scenarios = {s_by_key[k].id: s_by_key[k] for k in sorted(s_by_key)}
    return techniques, scenarios


def _load_pairs(
    conn: sa.Connection, at: int, techniques: Mapping[str, TechniqueData]
) -> dict[tuple[str, str], PairData]:
    pv = table_of(PairVersion)
    slug_by_key = {t.key: t.id for t in techniques.values()}
    pairs: dict[tuple[str, str], PairData] = {}
    for r in conn.execute(
        sa.select(pv).where(_valid_at(pv, at)).order_by(pv.c.low_id, pv.c.high_id)
    ).all():
        a, b = slug_by_key.get(r.low_id), slug_by_key.get(r.high_id)
        if a is None or b is None:
            continue  # a pair with a retired technique is history
        pairs[pair_key(a, b)] = PairData(
            a=a,
            b=b,
            verdict=r.verdict,
            note=r.note,
            caveats=tuple(r.caveats),
            settings=tuple(r.settings),
            versions=dict(r.versions),
            recommended_versions=dict(r.recommended_versions),
            since=r.since,
            confidence=r.confidence,
            sources=tuple(r.sources),
            since_revision=r.valid_from,
        )
    return pairs


def load_snapshot(
    conn: sa.Connection, engine: Engine, revision: int, previous: Snapshot | None = None
) -> Snapshot:
    """Read the techniques, scenarios and pairs valid at `revision`; cells stay in the database.

    With `previous` (an older snapshot), only what the revisions since it changed is read: a
    write that touches cells costs the next read a few indexed probes, one that changes a few
    techniques or scenarios the reading of those, not of the whole catalog.
    """
    reuse = previous if previous is not None and previous.revision < revision else None
    patched = _patched_entities(conn, reuse, revision) if reuse is not None else None
    techniques, scenarios = patched or _load_entities(conn, revision)
    kept = reuse is not None and techniques is reuse.techniques and scenarios is reuse.scenarios
    if (
        reuse is not None
        and techniques is reuse.techniques
        and not _changed_keys(conn, _PAIR_VERSIONS, "low_id", reuse.revision, revision)
    ):
        pairs = reuse.pairs
    else:
        pairs = _load_pairs(conn, revision, techniques)
    shared: dict[str, Any] = {}
    if kept and reuse is not None:
        shared = {
            "technique_lookup": reuse.technique_lookup,
            "scenario_lookup": reuse.scenario_lookup,
            "entity_cache": reuse.entity_cache,
        }
    return Snapshot(
        revision=revision,
        techniques=techniques,
        scenarios=scenarios,
        cells=CellIndex(engine, revision, techniques, scenarios),
        pairs=pairs,
        **shared,
    )


class SnapshotStore:
    """Snapshots by revision: the current one plus a bounded LRU of past ones.

    `current()` costs one indexed `max(number)` query; a snapshot is loaded only when the revision
    it answers for has not been seen, so every process sees a write by any other process on its
    very next read. A snapshot holds no cells, so even a catalog of a million cells keeps each
    snapshot as small as its techniques, scenarios and pairs.
    """

    def __init__(self, engine: Engine, past_capacity: int = 16) -> None:
        self.engine = engine
        self.past_capacity = past_capacity
        self._latest: Snapshot | None = None
        self._past: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def latest_revision(self) -> int:
        """The newest revision number in the database."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    def current(self) -> Snapshot:
        """The snapshot of the newest revision."""
        with self.engine.connect() as conn:
            revision = current_revision(conn)
            latest = self._latest
            if latest is not None and latest.revision == revision:
                return latest
            with self._lock:
                latest = self._latest
                if latest is not None and latest.revision == revision:
                    return latest
                snapshot = load_snapshot(conn, self.engine, revision, previous=latest)
                self._latest = snapshot
                return snapshot

    def at(self, revision: int) -> Snapshot | None:
        """The snapshot as of `revision`, or None when that revision does not exist (yet)."""
        latest = self._latest
        if latest is not None and latest.revision == revision:
            return latest
        with self._lock:
            cached = self._past.get(revision)
            if cached is not None:
                self._past.move_to_end(revision)
                return cached
        with self.engine.connect() as conn:
            if revision < 1 or revision > current_revision(conn):
                return None
            snapshot = load_snapshot(conn, self.engine, revision, previous=self._latest)
        with self._lock:
            self._past[revision] = snapshot
            while len(self._past) > self.past_capacity:
                self._past.popitem(last=False)
        return snapshot
