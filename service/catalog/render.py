"""Representations of the matrix: JSON, CSV (one cell a line) and Markdown (the seed's table).

Each `*_parts` function yields the representation piece by piece from a `MatrixView`, one chunk
of rows at a time, so that a matrix of any size is written out in bounded memory; joined, the
pieces are exactly the whole document.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

from pydantic import TypeAdapter

from service.catalog import schemas as s
from service.catalog.service import MatrixView, cell_fields, matrix_refs
from service.snapshot import CellData, ScenarioData, TechniqueData

CSV_COLUMNS = ("scenario", "technique", "support", "note", "sources")
SOURCE_SEPARATOR = " ; "
MARKDOWN_LABELS = {"yes": "Yes", "no": "No", "partial": "Partial", "unknown": "Unknown"}


_SCENARIO_REFS = TypeAdapter(list[s.ScenarioRef])
_TECHNIQUE_REFS = TypeAdapter(list[s.TechniqueRef])
_CELLS = TypeAdapter(list[s.Cell])


def matrix_json_parts(view: MatrixView) -> Iterator[bytes]:
    """The JSON document of `s.Matrix`, byte for byte as pydantic writes it, in pieces."""
    scenarios, techniques = matrix_refs(view)
    yield b"".join((
        b'{"revision":', str(view.snap.revision).encode(),
        b',"scenarios":', _SCENARIO_REFS.dump_json(scenarios),
        b',"techniques":', _TECHNIQUE_REFS.dump_json(techniques),
        b',"cells":[',
    ))  # fmt: skip
    separator = b""
    for _, cells in view.chunks():
        if cells:
            valid = _CELLS.validate_python([cell_fields(c) for c in cells])
            yield separator + _CELLS.dump_json(valid)[1:-1]
            separator = b","
    yield b"]}"


# A spreadsheet runs a field starting with one of these as a formula (OWASP "CSV Injection").
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def neutralize(field: str) -> str:
    """`field` safe to open in a spreadsheet: one `'` before a leading =, +, -, @, tab or CR
    (and before quotes that precede one, so that `unneutralize` undoes exactly this)."""
    return "'" + field if _FORMULA.match(field) else field


def unneutralize(field: str) -> str:
    """The stored text of a CSV field `neutralize` wrote (the CSV import applies it)."""
    return field[1:] if field.startswith("'") and _FORMULA.match(field[1:]) else field


def csv_lines(cells: Iterable[CellData], header: bool) -> str:
    """Cells as RFC 4180 CSV lines (CRLF), with the header row first when `header`; notes and
    sources are neutralized against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow((
            c.scenario, c.technique, c.support,
            neutralize(c.note), neutralize(SOURCE_SEPARATOR.join(c.sources)),
        ))  # fmt: skip
    return out.getvalue()


def matrix_csv_parts(view: MatrixView) -> Iterator[bytes]:
    """The view's cells as RFC 4180 CSV with a header (sources joined by ' ; '), in pieces."""
    yield csv_lines((), header=True).encode()
    for _, cells in view.chunks():
        yield csv_lines(cells, header=False).encode()


_MARKDOWN_ESCAPES = str.maketrans({
    "\\": "\\\\", "|": "\\|",
    # A table cell is one line and may be read as HTML: line breaks and markup become
    # character references, which the bulk import decodes again (html.unescape).
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", "\n": "&#10;",
})  # fmt: skip


def md_cell(text: str) -> str:
    """`text` as one Markdown table cell, escaped so that the bulk import reads it back."""
    return text.translate(_MARKDOWN_ESCAPES)


def _markdown_header(techniques: list[TechniqueData]) -> list[str]:
    width = len(techniques) + 1
    return [
        "|" + " |" * width,
        "|" + "-|" * width,
        "|" + "|".join(["Scenario", *(md_cell(t.name) for t in techniques)]) + "|",
    ]


def _markdown_rows(
    scenarios: list[ScenarioData], techniques: list[TechniqueData], cells: Iterable[CellData]
) -> list[str]:
    by_key = {(c.scenario, c.technique): c for c in cells}
    lines = []
    for sc in scenarios:
        row = [md_cell(sc.title)]
        for t in techniques:
            cell = by_key.get((sc.id, t.id))
            row.append(MARKDOWN_LABELS[cell.support] if cell else "")
        lines.append("|" + "|".join(row) + "|")
    return lines


def matrix_markdown(
    scenarios: list[ScenarioData], techniques: list[TechniqueData], cells: list[CellData]
) -> str:
    """The matrix as the Phi-3 Cookbook's table: an empty header row, then a `Scenario` row.

    Rows are scenario titles, columns technique names; a cell filtered out is left empty.
    """
    lines = _markdown_header(techniques) + _markdown_rows(scenarios, techniques, cells)
    return "\n".join(lines) + "\n"


def matrix_markdown_parts(view: MatrixView) -> Iterator[bytes]:
    """`matrix_markdown` of the view, in pieces."""
    yield ("\n".join(_markdown_header(view.techniques)) + "\n").encode()
    for scenarios, cells in view.chunks():
        lines = _markdown_rows(scenarios, view.techniques, cells)
        if lines:
            yield ("\n".join(lines) + "\n").encode()
