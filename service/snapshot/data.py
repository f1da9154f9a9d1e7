"""The immutable data of one revision: techniques, scenarios, cells, pairs, and the snapshot
that holds them (cells by index, see `service.snapshot.cells`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from service.snapshot.prepared import PreparedBytes

if TYPE_CHECKING:
    from service.snapshot.cells import CellIndex


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
    requirements: tuple[Mapping[str, Any], ...] = ()
    """Structured requirements in their stored form (see `service.compat.requirements`)."""


@dataclass(frozen=True, slots=True)
class EntityData:
    """A model, hardware, platform or offering: its kind, id, fields (the JSON stored for it,
    validated by `service.offerings.schemas`; read-only) and the revision that last changed it."""

    kind: str
    id: str
    data: Mapping[str, Any]
    since_revision: int


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The key of an unordered pair in `Snapshot.pairs`."""
    return (a, b) if a <= b else (b, a)


CellKey = tuple[str, str]
"""(scenario id, technique id)."""

CellRow = tuple[int, int, str | None, str | None, Any, int, int | None]
"""A cell version row as `CellIndex.statement` selects it, plus `valid_to`: scenario key,
technique key, support, note, sources (JSON text; a list as PostgreSQL's JSONB reads), valid
from, valid to. A closed row's content may be None: only its keys and `valid_to` matter."""


@functools.lru_cache(maxsize=4096)
def _decoded_sources(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _sources(value: str | list[str]) -> tuple[str, ...]:
    """A cell's sources from the database: JSON text (SQLite) or a list (PostgreSQL JSONB).

    Cells share few distinct source lists ("[]" above all), so text is decoded once per value.
    """
    return _decoded_sources(value) if isinstance(value, str) else tuple(value)


class Section(StrEnum):
    """The parts of a snapshot that a document can be made from (besides its revision number)."""

    TECHNIQUES = "techniques"
    SCENARIOS = "scenarios"
    CELLS = "cells"
    PAIRS = "pairs"
    ENTITIES = "entities"
    """Models, hardware, platforms and offerings."""


@dataclass(frozen=True, slots=True)
class Changed:
    """How a snapshot differs from the older one it was patched from: `since` is that one's
    revision, `sections` the parts that are not the same (a part not named is the very same
    data). Revisions in between are included."""

    since: int
    sections: frozenset[Section]


@dataclass(slots=True)
class Snapshot:
    """Techniques, scenarios and pairs valid at `revision`, in display order (creation order),
    and the index to its cells."""

    revision: int
    techniques: dict[str, TechniqueData]
    scenarios: dict[str, ScenarioData]
    cells: CellIndex
    pairs: dict[tuple[str, str], PairData] = field(default_factory=dict)
    entities: dict[str, dict[str, EntityData]] = field(default_factory=dict)
    """Models, hardware, platforms and offerings by kind, then id (in id order)."""
    technique_lookup: dict[str, str] = field(default_factory=dict)
    scenario_lookup: dict[str, str] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    entity_cache: dict[Any, Any] = field(default_factory=dict)
    prepared: PreparedBytes = field(default_factory=PreparedBytes)
    """Documents rendered from this revision, kept as bytes (see `service.snapshot.prepared`)."""
    changed: Changed | None = None
    """What differs from the snapshot this one was patched from; None when loaded whole."""

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

    @property
    def weight(self) -> int:
        """Approximate bytes this snapshot holds beyond its techniques, scenarios and pairs:
        its held or packed cells and prepared documents (what `SnapshotStore` bounds)."""
        held, packed = self.cells.held, self.cells.packed
        cells = held.weight if held is not None else packed.weight if packed is not None else 0
        return cells + self.prepared.size

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
