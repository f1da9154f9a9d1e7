"""Bulk matrix edits: turn a `PATCH /v1/matrix` body (JSON, CSV or Markdown) into edit rows.

Pure functions: no I/O, no database. Names are kept as written; the caller resolves scenario and
technique ids, aliases and titles, and re-checks duplicates after resolving. Every problem found is
reported at once in `BulkParseError.errors`, sorted by row; row 0 means the body as a whole. The
rows that did parse come with it (`BulkParseError.edits`), so that the caller can name their
unknown ids in the same answer.

What "keep" and "clear" mean for note and sources:
- JSON: a missing or null `note` / `sources` keeps the current value; `""` / `[]` clears it.
- CSV: a missing `note` / `sources` column keeps the current values; an empty cell clears them
  (so an exported CSV read back changes nothing). Sources are split on ";" and trimmed, so a
  source that itself contains ";" can only be sent as JSON.
- Markdown: only support levels can be written; an empty cell leaves that cell alone.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.catalog.render import unneutralize
from service.vocabulary import SUPPORT_LEVELS

CSV_COLUMNS = ("scenario", "technique", "support", "note", "sources")
REQUIRED = ("scenario", "technique", "support")
CELL_KEYS = CSV_COLUMNS
BODY_KEYS = ("cells",)
MEDIA_TYPES = ("application/json", "text/csv", "text/markdown", "text/x-markdown")
MAX_EDITS = 100_000
"""More edits than this in one body are refused; split the change into several requests."""

_DELIMITER_CELL = re.compile(r"\s*:?-+:?\s*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class CellEdit:
    """One cell to write. `note` / `sources` of None mean "keep the current value"."""

    row: int
    scenario: str
    technique: str
    support: str
    note: str | None
    sources: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: where (`row`, `field`), what (`message`), and what would be accepted."""

    row: int
    field: str
    message: str
    allowed: tuple[str, ...] = ()
    value: str | None = None


class BulkParseError(Exception):
    """The body cannot be applied; `errors` lists every problem found, sorted by row.

    `edits` are the rows that did parse, so that a caller can still look up their scenario
    and technique names and report unknown ones in the same answer; empty when the body as a
    whole could not be read.
    """

    def __init__(self, errors: Sequence[RowError], edits: Sequence[CellEdit] = ()) -> None:
        self.errors = sorted(errors, key=lambda e: e.row)
        self.edits = tuple(edits)
        super().__init__(self.errors, self.edits)  # as `args`, so the exception pickles

    def __str__(self) -> str:
        if not self.errors:
            return "no details"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"row {self.errors[0].row}: {self.errors[0].message}{more}"


class UnsupportedBulkType(Exception):
    """The Content-Type names no format `parse_body` reads; `allowed` lists those it does."""

    def __init__(self, media_type: str, allowed: Sequence[str] = MEDIA_TYPES) -> None:
        self.media_type = media_type
        self.allowed = tuple(allowed)
        super().__init__(f"unsupported media type {media_type!r}; use one of {', '.join(allowed)}")


class _Builder:
    """Collects edits and errors shared by all three formats: support, duplicates, the limit."""

    def __init__(self) -> None:
        self.edits: list[CellEdit] = []
        self.errors: list[RowError] = []
        self.full = False
        self._seen: dict[tuple[str, str], int] = {}

    def error(
        self,
        row: int,
        field: str,
        message: str,
        allowed: tuple[str, ...] = (),
        value: str | None = None,
    ) -> None:
        self.errors.append(RowError(row, field, message, allowed, value))

    def add(
        self,
        row: int,
        scenario: str,
        technique: str,
        support: str,
        note: str | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> None:
        level = support.strip().lower()
        key = (scenario.casefold(), technique.casefold())
        if level not in SUPPORT_LEVELS:
            msg = f"Support for {scenario} / {technique} must be yes, no, partial or unknown."
            self.error(row, "support", msg, SUPPORT_LEVELS, support)
        elif key in self._seen:
            pair = f"{scenario} / {technique}"
            msg = f"{pair} is already changed on row {self._seen[key]}."
            self.error(row, "cell", msg, value=pair)
        elif len(self.edits) >= MAX_EDITS:
            self.error(row, "body", f"More than {MAX_EDITS} edits; split the change up.")
            self.full = True
        else:
            self._seen[key] = row
            self.edits.append(CellEdit(row, scenario, technique, level, note, sources))

    def finish(self) -> list[CellEdit]:
        if not self.errors and not self.edits:
            self.error(0, "body", "There are no cells to change.")
        if self.errors:
            raise BulkParseError(self.errors, self.edits)
        return self.edits


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def parse_json(data: object) -> list[CellEdit]:
    """Read already-decoded JSON `{"cells": [{scenario, technique, support, note?, sources?}]}`.

    `row` is the cell's index + 1. Raises BulkParseError.
    """
    b = _Builder()
    if not isinstance(data, dict):
        b.error(0, "body", f"The body must be a JSON object, not {_json_type(data)}.")
        return b.finish()
    for key in data:
        if key not in BODY_KEYS:
            b.error(0, "body", f"Unknown key {key!r}.", allowed=BODY_KEYS, value=str(key))
    cells = data.get("cells")
    if not isinstance(cells, list):
        got = "nothing" if "cells" not in data else _json_type(cells)
        b.error(0, "cells", f"`cells` must be an array of cell objects, got {got}.")
        return b.finish()
    if len(cells) > MAX_EDITS:
        # Refuse before looking at any cell: the point is to bound the work done.
        b.error(0, "body", f"{len(cells)} edits is more than {MAX_EDITS}; split the change up.")
        return b.finish()
    for i, cell in enumerate(cells, start=1):
        _json_cell(b, i, cell)
    return b.finish()


def _json_cell(b: _Builder, row: int, cell: object) -> None:
    if not isinstance(cell, dict):
        b.error(row, "cell", f"Each cell must be a JSON object, not {_json_type(cell)}.")
        return
    before = len(b.errors)
    for key in cell:
        if key not in CELL_KEYS:
            b.error(row, str(key), f"Unknown key {key!r}.", allowed=CELL_KEYS, value=str(key))
    names: dict[str, str] = {}
    for key in REQUIRED:
        value = cell.get(key)
        if not isinstance(value, str) or not value.strip():
            got = "nothing" if key not in cell else json.dumps(value)[:40]
            b.error(row, key, f"`{key}` must be a non-empty string, got {got}.")
        else:
            names[key] = value.strip()
    note = cell.get("note")
    if note is not None and not isinstance(note, str):
        b.error(row, "note", f"`note` must be a string or null, not {_json_type(note)}.")
    sources = cell.get("sources")
    if sources is not None and (
        not isinstance(sources, list) or not all(isinstance(s, str) and s.strip() for s in sources)
    ):
        b.error(row, "sources", "`sources` must be an array of non-empty strings, or null.")
    if len(b.errors) == before:
        kept = None if sources is None else tuple(s.strip() for s in sources)
        b.add(row, names["scenario"], names["technique"], names["support"], note, kept)


def parse_csv(text: str) -> list[CellEdit]:
    """Read CSV with a header naming `scenario,technique,support` and optionally `note,sources`.

    Columns may come in any order. `row` is the line where the record starts (a quoted note may
    span lines). Blank lines are skipped. Raises BulkParseError.
    """
    b = _Builder()
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    columns: list[str] | None = None
    while not b.full:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The reader cannot resynchronise after a quoting error, so stop here.
            b.error(start, "body", f"CSV syntax error in the record starting here: {exc}.")
            break
        if not (fields and fields[0].strip()) and not any(f.strip() for f in fields):
            continue
        if columns is None:
            columns = [f.strip().lower() for f in fields]
            if not _csv_header(b, start, columns):
                break
            # Where each column is: records are read by position, not as dictionaries.
            required = [columns.index(name) for name in REQUIRED]
            note_at = columns.index("note") if "note" in columns else None
            sources_at = columns.index("sources") if "sources" in columns else None
            continue
        if len(fields) != len(columns):
            msg = f"This record has {len(fields)} fields but the header has {len(columns)}."
            b.error(start, "row", msg)
            continue
        scenario, technique, support = (fields[i].strip() for i in required)
        if not (scenario and technique and support):  # named by _csv_row
            _csv_row(b, start, dict(zip(columns, fields, strict=True)))
            continue
        note = None if note_at is None else unneutralize(fields[note_at])
        sources = None if sources_at is None else _csv_sources(fields[sources_at])
        b.add(start, scenario, technique, support, note, sources)
    if columns is None and not b.errors:
        b.error(1, "header", "The CSV has no header row.", allowed=CSV_COLUMNS)
    return b.finish()


def _csv_header(b: _Builder, row: int, columns: list[str]) -> bool:
    before = len(b.errors)
    seen: set[str] = set()
    for name in columns:
        if name not in CSV_COLUMNS:
            b.error(row, "header", f"Unknown column {name!r}.", allowed=CSV_COLUMNS, value=name)
        elif name in seen:
            b.error(row, "header", f"Column {name!r} appears twice.", value=name)
        seen.add(name)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        b.error(row, "header", f"Missing column(s): {', '.join(missing)}.", allowed=CSV_COLUMNS)
    return len(b.errors) == before


def _csv_row(b: _Builder, row: int, record: dict[str, str]) -> None:
    names = {key: record[key].strip() for key in REQUIRED}
    for key in (empty := [key for key in REQUIRED if not names[key]]):
        b.error(row, key, f"The {key} is empty.", SUPPORT_LEVELS if key == "support" else ())
    if not empty:
        raw = record.get("sources")
        sources = None if raw is None else _csv_sources(raw)
        note = record.get("note")
        note = None if note is None else unneutralize(note)
        b.add(row, names["scenario"], names["technique"], names["support"], note, sources)


def _csv_sources(field: str) -> tuple[str, ...]:
    """A CSV `sources` field: split on ";", trimmed, empty parts dropped."""
    if not field:
        return ()
    return tuple(s for part in unneutralize(field).split(";") if (s := part.strip()))


def _split_row(line: str) -> list[str]:
    r"""Cells of a Markdown table line, `\|` and `\\` unescaped; [] when it is no table row."""
    cells: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in line:
        if escaped:
            buf.append(ch if ch in "|\\" else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            cells.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if not cells:
        return []
    cells.append("".join(buf) + ("\\" if escaped else ""))
    # Leading and trailing pipes are optional; an unescaped one leaves an empty raw cell.
    if line.startswith("|"):
        cells.pop(0)
    if line.endswith("|") and cells and cells[-1] == "":
        cells.pop()
    # The export writes line breaks and markup as character references (render.md_cell).
    return [html.unescape(c.strip()) for c in cells]


def _is_filler(cells: list[str]) -> bool:
    """The Cookbook's empty first row, or a `|---|:-:|` delimiter row."""
    return all(not c for c in cells) or all(_DELIMITER_CELL.fullmatch(c) for c in cells)


def parse_markdown(text: str) -> list[CellEdit]:
    """Read the matrix table: a `Scenario` header row of technique names, one row per scenario.

    Accepts the export's layout (empty first row and delimiter before the header) and ordinary
    pasted tables (header, then `|---|`). Blank lines are skipped; text before the table or after
    it is ignored, but a table row after such text is an error. `row` is the line number; note and
    sources are always None. Raises BulkParseError.
    """
    b = _Builder()
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    rows = [(n, _split_row(line.strip())) for n, line in enumerate(lines, start=1)]
    header_at = next(
        (i for i, (_, cells) in enumerate(rows) if cells and cells[0].lower() == "scenario"), None
    )
    if header_at is None:
        first = next((n for n, cells in rows if cells), 1)
        b.error(first, "header", "No header row starting with `Scenario` was found.")
        return b.finish()
    header_line, header = rows[header_at]
    techniques = header[1:]
    for n, cells in rows[:header_at]:
        if cells and not _is_filler(cells):
            b.error(n, "header", "This row comes before the `Scenario` header row.")
    if not techniques:
        b.error(header_line, "header", "The header row names no technique columns.")
    seen: set[str] = set()
    for name in techniques:
        if not name:
            b.error(header_line, "header", "A technique column has no name.")
        elif name.casefold() in seen:
            b.error(header_line, "header", f"Technique {name!r} appears twice.", value=name)
        seen.add(name.casefold())
    if b.errors:
        return b.finish()
    ended_at = 0
    for (n, cells), line in zip(rows[header_at + 1 :], lines[header_at + 1 :], strict=True):
        if b.full:
            break
        # Text after the table (a pasted page) is ignored; a row after such text is not.
        if not cells:
            ended_at = ended_at or (n if line.strip() else 0)
            continue
        if ended_at:
            b.error(n, "row", f"This row comes after the table ended with text on line {ended_at}.")
            continue
        if _is_filler(cells):
            continue
        if len(cells) != len(header):
            msg = f"This row has {len(cells)} cells but the header has {len(header)}."
            b.error(n, "row", msg)
            continue
        if not cells[0]:
            b.error(n, "scenario", "The scenario cell is empty.")
            continue
        for technique, value in zip(techniques, cells[1:], strict=True):
            if value:
                b.add(n, cells[0], technique, value)
    return b.finish()


def parse_body(content_type: str, body: bytes) -> list[CellEdit]:
    """Decode a UTF-8 body and parse it by media type (parameters such as charset are ignored).

    Raises UnsupportedBulkType for another media type, BulkParseError for anything unreadable.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedBulkType(media_type, MEDIA_TYPES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        msg = f"The body is not valid UTF-8 (byte {exc.start} is bad)."
        raise BulkParseError([RowError(line, "body", msg)]) from None
    if media_type == "text/csv":
        return parse_csv(text)
    if media_type != "application/json":
        return parse_markdown(text)
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        msg = f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        raise BulkParseError([RowError(exc.lineno, "body", msg)]) from None
    except (ValueError, RecursionError) as exc:
        # Too deeply nested, or an integer too long to convert: no position is available.
        raise BulkParseError([RowError(0, "body", f"Unreadable JSON: {exc}.")]) from None
    return parse_json(data)
