"""Text representations of the matrix: CSV (one cell a line) and Markdown (the seed's table)."""

from __future__ import annotations

import csv
import io

from service.snapshot import CellData, ScenarioData, TechniqueData

CSV_COLUMNS = ("scenario", "technique", "support", "note", "sources")
SOURCE_SEPARATOR = " ; "
MARKDOWN_LABELS = {"yes": "Yes", "no": "No", "partial": "Partial", "unknown": "Unknown"}


def matrix_csv(cells: list[CellData]) -> str:
    """RFC 4180 CSV with a header; sources joined by ' ; '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow(
            (c.scenario, c.technique, c.support, c.note, SOURCE_SEPARATOR.join(c.sources))
        )
    return out.getvalue()


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def matrix_markdown(
    scenarios: list[ScenarioData], techniques: list[TechniqueData], cells: list[CellData]
) -> str:
    """The matrix as the Phi-3 Cookbook's table: an empty header row, then a `Scenario` row.

    Rows are scenario titles, columns technique names; a cell filtered out is left empty.
    """
    by_key = {(c.scenario, c.technique): c for c in cells}
    width = len(techniques) + 1
    lines = [
        "|" + " |" * width,
        "|" + "-|" * width,
        "|" + "|".join(["Scenario", *(_md(t.name) for t in techniques)]) + "|",
    ]
    for sc in scenarios:
        row = [_md(sc.title)]
        for t in techniques:
            cell = by_key.get((sc.id, t.id))
            row.append(MARKDOWN_LABELS[cell.support] if cell else "")
        lines.append("|" + "|".join(row) + "|")
    return "\n".join(lines) + "\n"
