"""Exports that carry no attack and round-trip: CSV formula injection neutralized (OWASP), the
Markdown table escaping line breaks and markup, and any stored text read back unchanged."""

from __future__ import annotations

import csv
import io
from typing import Literal

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service.admin.bulk import _split_row, parse_csv
from service.catalog.render import csv_lines, md_cell, neutralize, unneutralize
from service.snapshot import CellData
from tests.helpers import Headers

# Any text the service stores: no NUL, no lone surrogate (service.wire refuses those).
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
STORABLE = st.text(st.characters(exclude_categories=SURROGATES, exclude_characters="\x00"))


def test_fields_a_spreadsheet_would_run_get_a_quote() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x"):
        assert neutralize(dangerous) == "'" + dangerous
    for harmless in ("plain", "'quoted", "a=b", ""):
        assert neutralize(harmless) == harmless


@settings(max_examples=300, database=None)
@given(STORABLE)
def test_neutralize_round_trips(text: str) -> None:
    assert unneutralize(neutralize(text)) == text


@settings(max_examples=200, database=None)
@given(
    note=STORABLE,
    sources=st.lists(
        st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1)
        .map(str.strip)
        .filter(lambda s: s and ";" not in s),
        max_size=3,
    ),
)
def test_any_note_and_sources_survive_the_csv_export_and_import(
    note: str, sources: list[str]
) -> None:
    exported = csv_lines([CellData("qa", "lora", "yes", note, tuple(sources), 3)], header=True)
    for row in list(csv.reader(io.StringIO(exported, newline="")))[1:]:
        assert not row[3] or row[3][0] not in "=+-@\t\r"  # nothing a spreadsheet would run
    (edit,) = parse_csv(exported)
    assert edit.note == note
    assert edit.sources == tuple(s.strip() for s in sources)


@settings(max_examples=300, database=None)
@given(STORABLE.map(str.strip))
def test_any_title_survives_the_markdown_table(text: str) -> None:
    cell = md_cell(text)
    assert "\r" not in cell
    assert "\n" not in cell
    assert "<" not in cell
    assert _split_row(f"|{cell}|x|") == [text, "x"]


def test_a_formula_note_is_exported_safely_and_pasted_back_unchanged(
    client: TestClient, h: Headers
) -> None:
    newest = int(client.get("/v1/matrix").headers["x-revision"])
    note = '=HYPERLINK("http://evil.example","click")'
    put = client.put(
        "/v1/matrix/qa-tasks/lora",
        json={"support": "yes", "note": note, "sources": ["@sources-too"]},
        headers=h(rev=newest),
    )
    assert put.status_code == 200, put.text
    exported = client.get("/v1/matrix?format=csv&scenario=qa-tasks&technique=lora").text
    assert "'=HYPERLINK" in exported
    assert "'@sources-too" in exported
    back = client.patch(
        "/v1/matrix",
        content=exported.encode(),
        headers={**h(rev=newest + 1), "Content-Type": "text/csv"},
    )
    assert back.status_code == 200, back.text
    assert back.json()["changes"] == []  # the round trip changed nothing
    cell = client.get("/v1/matrix/qa-tasks/lora").json()["cell"]
    assert (cell["note"], cell["sources"]) == (note, ["@sources-too"])
