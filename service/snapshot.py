"""The data as of one revision, loaded once into plain immutable objects.

Past revisions never change, so a snapshot of revision N is valid forever; only "which revision
is current" has to be checked per request. Every read (catalog, compatibility, exports) answers
from a snapshot instead of querying tables row by row.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True, slots=True)
class CellData:
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


@dataclass(slots=True)
class Snapshot:
    """Techniques, scenarios and cells valid at `revision`, in display order (creation order)."""

    revision: int
    techniques: dict[str, TechniqueData]
    scenarios: dict[str, ScenarioData]
    cells: dict[tuple[str, str], CellData]
    pairs: dict[tuple[str, str], PairData] = field(default_factory=dict)
    technique_lookup: dict[str, str] = field(default_factory=dict)
    scenario_lookup: dict[str, str] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
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


def _valid_at(table: sa.Table, revision: int) -> sa.ColumnElement[bool]:
    # An explicit bound rather than "valid_to IS NULL": a write committed while we read closes
    # rows with valid_to = N + 1, which this filter still counts as valid at N.
    return sa.and_(
        table.c.valid_from <= revision,
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > revision),
    )


def load_snapshot(conn: sa.Connection, revision: int) -> Snapshot:
    """Read the data valid at `revision`."""
    at = revision
    tv, sv, cv = table_of(TechniqueVersion), table_of(ScenarioVersion), table_of(CellVersion)
    t_rows = conn.execute(sa.select(tv).where(_valid_at(tv, at)).order_by(tv.c.technique_id)).all()
    slug_by_key = {r.technique_id: r.slug for r in t_rows}
    techniques = {
        r.slug: TechniqueData(
            key=r.technique_id,
            id=r.slug,
            name=r.name,
            full_name=r.full_name,
            category=r.category,
            summary=r.summary,
            aliases=tuple(r.aliases),
            paper=r.paper,
            facts=tuple(r.facts),
            libraries=tuple(r.libraries),
            parent=slug_by_key.get(r.parent_id) if r.parent_id is not None else None,
            sources=tuple(r.sources),
            since_revision=r.valid_from,
        )
        for r in t_rows
    }
    s_rows = conn.execute(sa.select(sv).where(_valid_at(sv, at)).order_by(sv.c.scenario_id)).all()
    scenario_by_key = {r.scenario_id: r.slug for r in s_rows}
    scenarios = {
        r.slug: ScenarioData(
            key=r.scenario_id,
            id=r.slug,
            title=r.title,
            kind=r.kind,
            description=r.description,
            aliases=tuple(r.aliases),
            sources=tuple(r.sources),
            since_revision=r.valid_from,
        )
        for r in s_rows
    }
    cells: dict[tuple[str, str], CellData] = {}
    c_rows = conn.execute(
        sa.select(
            cv.c.scenario_id,
            cv.c.technique_id,
            cv.c.support,
            cv.c.note,
            cv.c.sources,
            cv.c.valid_from,
        )
        .where(_valid_at(cv, at))
        .order_by(cv.c.scenario_id, cv.c.technique_id)
    ).all()
    for scenario_id, technique_id, support, note, sources, valid_from in c_rows:
        scenario = scenario_by_key.get(scenario_id)
        technique = slug_by_key.get(technique_id)
        if scenario is None or technique is None:
            continue  # a cell of a retired technique or scenario is history, not current data
        cells[(scenario, technique)] = CellData(
            scenario, technique, support, note, tuple(sources), valid_from
        )
    # Order cells as the table reads: scenario rows, technique columns.
    t_order = {slug: i for i, slug in enumerate(techniques)}
    s_order = {slug: i for i, slug in enumerate(scenarios)}
    ordered = dict(sorted(cells.items(), key=lambda kv: (s_order[kv[0][0]], t_order[kv[0][1]])))
    pv = table_of(PairVersion)
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
    return Snapshot(
        revision=revision, techniques=techniques, scenarios=scenarios, cells=ordered, pairs=pairs
    )


class SnapshotStore:
    """Snapshots by revision: the current one plus a bounded LRU of past ones.

    `current()` costs one indexed `max(number)` query; a snapshot is loaded only when the revision
    it answers for has not been seen, so every process sees a write by any other process on its
    very next read.
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
                snapshot = load_snapshot(conn, revision)
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
            snapshot = load_snapshot(conn, revision)
        with self._lock:
            self._past[revision] = snapshot
            while len(self._past) > self.past_capacity:
                self._past.popitem(last=False)
        return snapshot
