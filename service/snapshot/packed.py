"""`PackedCells`: the newest revision's cells of a large catalog, packed, for rows, columns and
single cells.

A catalog too large to hold as `HeldCells` (a tuple and three dictionary places per cell) still
fits in a few bytes a cell: per scenario row, one byte of support level and four of revision per
technique column, plus the notes and sources of the cells that have any. Reading a row, a column
or a cell then costs no query: at a million cells a column is 2,000 cells scattered over the
table, which the database answers in tens of milliseconds, and this in a few.

Only the newest revision is packed, when it is loaded as the newest; the next one is patched
from it by reading the cells the revisions between wrote or closed, so a write costs what it
changed (or, in the process that wrote only cells, with the rows it wrote: no read at all, see
`SnapshotStore.follow`).

Rows are never changed once built: a patched revision shares every row it did not touch with
the one it was patched from. `at=` reads of older revisions read the database.
Matrix-wide reads (`select`) read the database too: they return as much as they read. `pick`
(the cells a bulk edit touches) reads the packed rows.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from service.snapshot.data import (
    CellData,
    CellKey,
    ScenarioData,
    TechniqueData,
    _decoded_sources,
)

PACK_LIMIT = 4_000_000
"""The most cells a revision packs (the app's default; `SnapshotStore` packs none unless told)."""

LEVELS = ("", "yes", "no", "partial", "unknown")
"""Support level by code; code 0 is a cell never set (or removed)."""

_CODE = {level: code for code, level in enumerate(LEVELS) if level}

RICH_BYTES = 120
"""Memory of one cell's note or sources entry beyond its characters, in bytes."""


def sources_text(value: str | list[str] | tuple[str, ...]) -> str:
    """A cell's sources as JSON text: as SQLite stores them, or encoded from a list."""
    return value if isinstance(value, str) else json.dumps(list(value), ensure_ascii=False)


class PackedRow:
    """One scenario's cells by technique column slot: support code, revision since when, and
    the notes and sources (JSON text) of the cells that have any. Never changed once built.

    Every part is a type the garbage collector does not track (bytes, arrays, dictionaries of
    integers to strings): a million packed cells add nothing to a full collection's work.
    """

    __slots__ = ("codes", "notes", "since", "sources")

    def __init__(
        self, codes: bytearray, since: array[int], notes: dict[int, str], sources: dict[int, str]
    ) -> None:
        self.codes = codes
        self.since = since
        self.notes = notes
        self.sources = sources

    def copy(self, width: int) -> PackedRow:
        """A copy to change, at least `width` columns wide."""
        codes, since = bytearray(self.codes), array("I", self.since)
        if len(codes) < width:
            codes.extend(bytes(width - len(codes)))
            since.extend(array("I", bytes(4 * (width - len(since)))))
        return PackedRow(codes, since, dict(self.notes), dict(self.sources))

    def set(self, slot: int, support: str, note: str, sources: str, since: int) -> None:
        """Cell `slot` holds this (`sources` as JSON text)."""
        self.codes[slot] = _CODE[support]
        self.since[slot] = since
        if note:
            self.notes[slot] = note
        else:
            self.notes.pop(slot, None)
        if sources != "[]":
            self.sources[slot] = sources
        else:
            self.sources.pop(slot, None)

    def clear(self, slot: int) -> None:
        """Cell `slot` was removed."""
        if slot < len(self.codes):
            self.codes[slot] = 0
            self.since[slot] = 0
            self.notes.pop(slot, None)
            self.sources.pop(slot, None)

    @property
    def count(self) -> int:
        """Cells set in this row."""
        return len(self.codes) - self.codes.count(0)

    @property
    def weight(self) -> int:
        rich = [*self.notes.values(), *self.sources.values()]
        return 5 * len(self.codes) + 300 + sum(RICH_BYTES + len(text) for text in rich)


def _empty_row(width: int) -> PackedRow:
    return PackedRow(bytearray(width), array("I", bytes(4 * width)), {}, {})


Rich = tuple[str, tuple[str, ...]]
"""A cell's note and sources."""


class PackedCells:
    """The cells valid at one revision, packed by scenario row; the same cells as `CellIndex`
    reads from the database (`row`, `column` and `get` only; a cell never set is absent)."""

    __slots__ = (
        "_by_position", "_scenarios", "_techniques", "count", "rows", "slots", "weight",
    )  # fmt: skip

    def __init__(
        self,
        rows: dict[int, PackedRow],
        slots: dict[int, int],
        techniques: Mapping[str, TechniqueData],
        scenarios: Mapping[str, ScenarioData],
        sizes: tuple[int, int] | None = None,
    ) -> None:
        self.rows = rows
        """Each scenario's row, by scenario key (rows without a cell may be absent)."""
        self.slots = slots
        """Each technique's column slot, by technique key."""
        self._techniques = techniques
        self._scenarios = scenarios
        self._by_position: list[PackedRow | None] | None = None
        if sizes is None:
            sizes = (sum(r.count for r in rows.values()), sum(r.weight for r in rows.values()))
        self.count = sizes[0]
        """Cells held (`sizes[0]` when given: what a patch computed from the rows it changed)."""
        self.weight = sizes[1] + 100 * len(slots)
        """Estimated bytes (rows' `sizes[1]`, slots besides), counted in full even where rows
        are shared with another revision."""

    def __len__(self) -> int:
        return self.count

    def _cell(self, sc: ScenarioData, t: TechniqueData, row: PackedRow, slot: int) -> CellData:
        sources = row.sources.get(slot)
        return CellData(
            sc.id,
            t.id,
            LEVELS[row.codes[slot]],
            row.notes.get(slot, ""),
            _decoded_sources(sources) if sources is not None else (),
            row.since[slot],
        )

    def get(self, scenario: str, technique: str) -> CellData | None:
        sc, t = self._scenarios.get(scenario), self._techniques.get(technique)
        if sc is None or t is None:
            return None
        row, slot = self.rows.get(sc.key), self.slots.get(t.key)
        if row is None or slot is None or slot >= len(row.codes) or not row.codes[slot]:
            return None
        return self._cell(sc, t, row, slot)

    def row(self, scenario: str) -> dict[str, CellData]:
        sc = self._scenarios.get(scenario)
        row = self.rows.get(sc.key) if sc is not None else None
        if sc is None or row is None:
            return {}
        codes, width, slots = row.codes, len(row.codes), self.slots
        found: dict[str, CellData] = {}
        for t in self._techniques.values():
            slot = slots.get(t.key)
            if slot is not None and slot < width and codes[slot]:
                found[t.id] = self._cell(sc, t, row, slot)
        return found

    def column(self, technique: str) -> dict[str, CellData]:
        t = self._techniques.get(technique)
        slot = self.slots.get(t.key) if t is not None else None
        if t is None or slot is None:
            return {}
        # The hot loop of a large catalog's column read: thousands of rows, so locals only and
        # the tuple built by tuple.__new__ (CellData's own __new__ is a Python function).
        new, levels, decoded, t_id = tuple.__new__, LEVELS, _decoded_sources, t.id
        found: dict[str, CellData] = {}
        for s_id, row in zip(self._scenarios, self._aligned(), strict=True):
            if row is not None and slot < len(codes := row.codes) and (code := codes[slot]):
                sources = row.sources.get(slot)
                found[s_id] = new(CellData, (
                    s_id, t_id, levels[code], row.notes.get(slot, ""),
                    decoded(sources) if sources is not None else (), row.since[slot],
                ))  # fmt: skip
        return found

    def column_codes(self, technique: str) -> tuple[bytes, dict[int, Rich]] | None:
        """One technique's column for writing it out fast: its support code for each scenario
        of the revision, one byte each in display order (0: never set; see `LEVELS`), and the
        note and sources of the cells that have either, by position. None for an unknown id."""
        t = self._techniques.get(technique)
        if t is None:
            return None
        slot = self.slots.get(t.key)
        aligned = self._aligned()
        if slot is None:
            return bytes(len(aligned)), {}
        codes = bytes([r.codes[slot] if r and slot < len(r.codes) else 0 for r in aligned])
        rich: dict[int, Rich] = {}
        for i, r in enumerate(aligned):
            if r is not None and (r.notes or r.sources) and codes[i]:
                note, sources = r.notes.get(slot, ""), r.sources.get(slot)
                if note or sources is not None:
                    rich[i] = (note, _decoded_sources(sources) if sources is not None else ())
        return codes, rich

    def _aligned(self) -> list[PackedRow | None]:
        """Each scenario's row (None: it has none) in display order; built on first use."""
        aligned = self._by_position
        if aligned is None:
            rows = self.rows
            aligned = [rows.get(sc.key) for sc in self._scenarios.values()]
            self._by_position = aligned
        return aligned

    def pick(self, keys: Iterable[CellKey]) -> dict[CellKey, CellData]:
        """These cells, by (scenario id, technique id), in display order; unknown or never-set
        ones are absent. Read a row at a time (a bulk edit asks for whole rows at once)."""
        by_row: dict[str, set[str]] = {}
        for scenario, technique in keys:
            by_row.setdefault(scenario, set()).add(technique)
        scenarios, techniques = self._scenarios, self._techniques
        rows, slots = self.rows, self.slots
        found: list[tuple[tuple[int, int], CellKey, CellData]] = []
        for scenario, asked in by_row.items():
            sc = scenarios.get(scenario)
            row = rows.get(sc.key) if sc is not None else None
            if sc is None or row is None:
                continue
            codes, width = row.codes, len(row.codes)
            for technique in asked:
                t = techniques.get(technique)
                slot = slots.get(t.key) if t is not None else None
                if t is not None and slot is not None and slot < width and codes[slot]:
                    cell = self._cell(sc, t, row, slot)
                    found.append(((sc.key, t.key), (scenario, technique), cell))
        found.sort(key=itemgetter(0))
        return {key: cell for _, key, cell in found}


def pack(
    rows: Iterable[Sequence[Any]],
    techniques: Mapping[str, TechniqueData],
    scenarios: Mapping[str, ScenarioData],
) -> PackedCells:
    """Pack the cells in `rows` (scenario key, technique key, support, note, sources, valid
    from, as `CellIndex.statement` selects them, ordered by scenario key)."""
    slots = {t.key: slot for slot, t in enumerate(techniques.values())}
    width = len(slots)
    packed: dict[int, PackedRow] = {}
    current_key, row = None, _empty_row(0)
    for s_key, t_key, support, note, sources, valid_from, *_ in rows:
        if s_key != current_key:
            current_key = s_key
            row = packed.setdefault(s_key, _empty_row(width))
        slot = slots.get(t_key)
        if slot is None:  # a technique not in this revision (its cells are history)
            slot = slots[t_key] = len(slots)
        if slot >= len(row.codes):
            row = packed[s_key] = row.copy(slot + 1)
        row.set(slot, support, note, sources_text(sources), valid_from)
    return PackedCells(packed, slots, techniques, scenarios)


def patch(
    earlier: PackedCells,
    rows: Iterable[Sequence[Any]],
    upto: int,
    techniques: Mapping[str, TechniqueData],
    scenarios: Mapping[str, ScenarioData],
) -> PackedCells:
    """`earlier` with the version rows the revisions after it wrote or closed (selected as
    `CellIndex.statement` selects them, plus `valid_to`): the cells valid at `upto`.

    A cell whose rows all closed by `upto` was removed; one still open then holds its content.
    """
    opened: dict[tuple[int, int], Sequence[Any]] = {}
    touched: set[tuple[int, int]] = set()
    for row in rows:
        key = (row[0], row[1])
        touched.add(key)
        valid_to = row[6]
        if valid_to is None or valid_to > upto:
            opened[key] = row
    slots = earlier.slots
    for _, t_key in touched:
        if t_key not in slots:
            if slots is earlier.slots:
                slots = dict(slots)
            slots[t_key] = len(slots)
    width = len(slots)
    packed = dict(earlier.rows)
    copied: set[int] = set()
    count, weight = earlier.count, earlier.weight - 100 * len(earlier.slots)
    for s_key, t_key in sorted(touched):
        if s_key not in copied:
            before = packed.get(s_key)
            if before is not None:
                count, weight = count - before.count, weight - before.weight
            packed[s_key] = before.copy(width) if before is not None else _empty_row(width)
            copied.add(s_key)
        target, slot = packed[s_key], slots[t_key]
        now = opened.get((s_key, t_key))
        if now is None:
            target.clear(slot)
        else:
            target.set(slot, now[2], now[3], sources_text(now[4]), now[5])
    for s_key in copied:
        count, weight = count + packed[s_key].count, weight + packed[s_key].weight
    return PackedCells(packed, slots, techniques, scenarios, (count, weight))
