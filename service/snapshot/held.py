"""`HeldCells`: every cell valid at one revision, held in memory (for small catalogs).

A catalog of a few thousand cells costs more to query per request (a connection, a statement,
rows turned into tuples) than to keep: held, a cell, a row or the whole matrix is a dictionary
read. `service.snapshot.load` decides when a revision's cells are held (at most `HOLD_LIMIT`)
and keeps them up to date from one revision to the next by reading only the cells it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.snapshot.data import CellData, CellKey, ScenarioData, TechniqueData

HOLD_LIMIT = 20_000
"""The most cells a snapshot holds in memory; a revision with more reads them by index."""

HOLD_BYTES = 32 * 1024 * 1024
"""The most memory (estimated, see `cell_bytes`) a snapshot's held cells may take."""

CELL_BYTES = 420
"""Memory of one held cell beyond its note's characters, in bytes: its tuple, its places in
the by-key, by-row and by-column dictionaries, the note's string header. Measured with
tracemalloc on the seed's 54 cells (618 bytes each, for notes of 201 characters on average)."""


def cell_bytes(count: int, note_chars: int) -> int:
    """Estimated memory of `count` held cells whose notes have `note_chars` characters in all
    (ASCII; other text takes up to four bytes a character)."""
    return count * CELL_BYTES + note_chars


class HeldCells:
    """The cells valid at one revision, from memory. Same answers, in the same order, as
    `CellIndex` reading them from the database (scenario rows, technique columns, both in
    creation order); a cell never set is absent."""

    __slots__ = ("_by_column", "_by_row", "_scenarios", "_techniques", "cells", "weight")

    def __init__(
        self,
        cells: dict[CellKey, CellData],
        techniques: Mapping[str, TechniqueData],
        scenarios: Mapping[str, ScenarioData],
    ) -> None:
        self.cells = cells
        """Every cell by (scenario id, technique id), in display order; never changed."""
        self._techniques = techniques
        self._scenarios = scenarios
        self._by_row: dict[str, dict[str, CellData]] | None = None
        self._by_column: dict[str, dict[str, CellData]] | None = None
        self.weight = cell_bytes(len(cells), sum(len(c.note) for c in cells.values()))
        """Estimated bytes held (see `cell_bytes`)."""

    def __len__(self) -> int:
        return len(self.cells)

    def _rows(self) -> dict[str, dict[str, CellData]]:
        # Built on first use; two threads building it at once build the same thing.
        by_row = self._by_row
        if by_row is None:
            by_row = {}
            for (scenario, technique), cell in self.cells.items():
                by_row.setdefault(scenario, {})[technique] = cell
            self._by_row = by_row
        return by_row

    def _columns(self) -> dict[str, dict[str, CellData]]:
        by_column = self._by_column
        if by_column is None:
            by_column = {}
            for (scenario, technique), cell in self.cells.items():
                by_column.setdefault(technique, {})[scenario] = cell
            self._by_column = by_column
        return by_column

    def get(self, scenario: str, technique: str) -> CellData | None:
        return self.cells.get((scenario, technique))

    def row(self, scenario: str) -> dict[str, CellData]:
        return dict(self._rows().get(scenario, ()))

    def column(self, technique: str) -> dict[str, CellData]:
        return dict(self._columns().get(technique, ()))

    def select(
        self, scenarios: Iterable[str] | None, techniques: Iterable[str] | None
    ) -> dict[CellKey, CellData]:
        wanted = None if techniques is None else set(techniques)
        if scenarios is None:
            if wanted is None:
                return dict(self.cells)
            return {k: c for k, c in self.cells.items() if k[1] in wanted}
        by_row = self._rows()
        known = self._scenarios
        order = sorted({s for s in scenarios if s in known}, key=lambda s: known[s].key)
        found: dict[CellKey, CellData] = {}
        for scenario in order:
            for technique, cell in by_row.get(scenario, {}).items():
                if wanted is None or technique in wanted:
                    found[(scenario, technique)] = cell
        return found

    def pick(self, keys: Iterable[CellKey]) -> dict[CellKey, CellData]:
        cells = self.cells
        asked = {key for key in keys if key in cells}
        s_key = {s: self._scenarios[s].key for s, _ in asked}
        t_key = {t: self._techniques[t].key for _, t in asked}
        order = sorted(asked, key=lambda k: (s_key[k[0]], t_key[k[1]]))
        return {key: cells[key] for key in order}
