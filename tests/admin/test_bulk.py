"""Bulk matrix edits: JSON, CSV and Markdown bodies into edit rows, and every error with its row."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from service.admin import bulk
from service.admin.bulk import (
    CELL_KEYS,
    CSV_COLUMNS,
    MEDIA_TYPES,
    BulkParseError,
    CellEdit,
    RowError,
    UnsupportedBulkType,
    parse_body,
    parse_csv,
    parse_json,
    parse_markdown,
)
from service.vocabulary import SUPPORT_LEVELS
from tests.published import SEED_COPY, table_markdown, table_rows

COOKBOOK = """\
| | | | | | | |
|-|-|-|-|-|-|-|
|Scenario|LoRA|QLoRA|PEFT|DeepSpeed|ZeRO|DoRA|
|Reducing memory usage|Yes|Yes|Yes|Yes|Yes|Yes|
|Fine-tuning for QA tasks|Yes|No|Partial|Unknown||Yes|
"""
TECHNIQUES = ("LoRA", "QLoRA", "PEFT", "DeepSpeed", "ZeRO", "DoRA")


def errors_of(parse: object, *args: object) -> list[RowError]:
    """The errors a parse call raises; fails the test if it succeeds."""
    assert callable(parse)
    with pytest.raises(BulkParseError) as info:
        parse(*args)
    return info.value.errors


def where(errors: list[RowError]) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in errors]


def triples(edits: list[CellEdit]) -> list[tuple[int, str, str, str]]:
    return [(e.row, e.scenario, e.technique, e.support) for e in edits]


# --- Markdown -------------------------------------------------------------------------------


def test_markdown_reads_the_cookbook_layout_and_skips_empty_cells() -> None:
    edits = parse_markdown(COOKBOOK)
    memory = [(4, "Reducing memory usage", t, "yes") for t in TECHNIQUES]
    qa = [
        (5, "Fine-tuning for QA tasks", "LoRA", "yes"),
        (5, "Fine-tuning for QA tasks", "QLoRA", "no"),
        (5, "Fine-tuning for QA tasks", "PEFT", "partial"),
        (5, "Fine-tuning for QA tasks", "DeepSpeed", "unknown"),
        (5, "Fine-tuning for QA tasks", "DoRA", "yes"),
    ]
    assert triples(edits) == memory + qa
    assert all(e.note is None for e in edits)
    assert all(e.sources is None for e in edits)


def test_markdown_reads_the_published_seed_table_and_the_whole_seed_page() -> None:
    header, rows = table_rows()
    expected = [
        (title, technique, value.lower())
        for title, values in rows
        for technique, value in zip(header, values, strict=True)
    ]
    for text in (table_markdown(), SEED_COPY.read_text(encoding="utf-8")):
        edits = parse_markdown(text)
        assert [(e.scenario, e.technique, e.support) for e in edits] == expected
    assert len(expected) == 54


def test_markdown_round_trips_the_service_export() -> None:
    # Imported here: the renderer pulls in the database layer, which bulk.py must not need.
    from service.catalog.render import matrix_markdown
    from service.snapshot import CellData, ScenarioData, TechniqueData

    def technique(key: int, id_: str, name: str) -> TechniqueData:
        return TechniqueData(key, id_, name, None, "peft", "", (), None, (), (), None, (), 1)

    def scenario(key: int, id_: str, title: str) -> ScenarioData:
        return ScenarioData(key, id_, title, "task", "", (), (), 1)

    techniques = [technique(1, "lora", "LoRA"), technique(2, "odd", "A|B \\ C")]
    scenarios = [scenario(1, "qa", "QA | tasks"), scenario(2, "mem", r"C:\memory")]
    cells = [
        CellData("qa", "lora", "partial", "", (), 1),
        CellData("qa", "odd", "unknown", "", (), 1),
        CellData("mem", "odd", "no", "", (), 1),
    ]
    edits = parse_markdown(matrix_markdown(scenarios, techniques, cells))
    assert [(e.scenario, e.technique, e.support) for e in edits] == [
        ("QA | tasks", "LoRA", "partial"),
        ("QA | tasks", "A|B \\ C", "unknown"),
        (r"C:\memory", "A|B \\ C", "no"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        # An ordinary Markdown table: header first, then the delimiter row.
        "|Scenario|LoRA|QLoRA|\n|---|---|---|\n|Reducing memory usage|Yes|No|\n",
        # Spaces around cells and alignment colons.
        "| Scenario | LoRA | QLoRA |\n| :--- | :-: | --: |\n"
        "|  Reducing memory usage  | Yes |  No |\n",
        # No leading or trailing pipes.
        "Scenario | LoRA | QLoRA\n--- | --- | ---\nReducing memory usage | Yes | No\n",
        # Only some rows with outer pipes, CRLF line ends, odd case, no final newline.
        "Scenario|LoRA|QLoRA|\r\n|-|-|-\r\n|Reducing memory usage|YES|nO",
        # A heading and prose before, blank lines inside, a note after.
        "## Matrix\n\nEdited:\n\n|Scenario|LoRA|QLoRA|\n|-|-|-|\n\n"
        "|Reducing memory usage|yes|no|\n\nThanks!\n",
        # A byte order mark from a spreadsheet or editor.
        "\ufeff|Scenario|LoRA|QLoRA|\n|Reducing memory usage|Yes|No|\n",
    ],
)
def test_markdown_tolerates_pasted_table_variants(text: str) -> None:
    edits = parse_markdown(text)
    assert [(e.scenario, e.technique, e.support) for e in edits] == [
        ("Reducing memory usage", "LoRA", "yes"),
        ("Reducing memory usage", "QLoRA", "no"),
    ]


def test_markdown_unescapes_pipes_and_backslashes_and_keeps_other_backslashes() -> None:
    text = "|Scenario|A\\|B|\n|-|-|\n|x \\| y \\\\ z \\n|yes|\n|ends\\||no|\n"
    edits = parse_markdown(text)
    assert [(e.scenario, e.technique) for e in edits] == [
        ("x | y \\ z \\n", "A|B"),
        ("ends|", "A|B"),
    ]


def test_markdown_without_scenario_header_is_an_error_on_the_header() -> None:
    text = "intro\n|Use case|LoRA|\n|-|-|\n|QA|Yes|\n"
    errors = errors_of(parse_markdown, text)
    assert where(errors) == [(2, "header")]
    assert "Scenario" in errors[0].message
    assert where(errors_of(parse_markdown, "just some text\n")) == [(1, "header")]


def test_markdown_header_problems_are_reported_together() -> None:
    text = "|QA|Yes|\n|Scenario|LoRA||lora|\n|QA|Yes|No|Yes|\n"
    errors = errors_of(parse_markdown, text)
    assert where(errors) == [(1, "header"), (2, "header"), (2, "header")]
    assert "before" in errors[0].message
    assert "no name" in errors[1].message
    assert errors[2].value == "lora"
    assert where(errors_of(parse_markdown, "|Scenario|\n|QA|\n")) == [(1, "header")]


def test_markdown_row_errors_carry_their_line_and_are_all_reported() -> None:
    text = (
        "|Scenario|LoRA|QLoRA|\n"  # 1
        "|-|-|-|\n"  # 2
        "|QA|Yes|\n"  # 3: too few cells
        "|Chat|Maybe|sure|\n"  # 4: two bad levels
        "||Yes|No|\n"  # 5: no scenario
        "|Memory|Yes|No|Yes|\n"  # 6: too many cells
        "|Cost|No|Partial|\n"  # 7: fine
    )
    errors = errors_of(parse_markdown, text)
    assert where(errors) == [
        (3, "row"),
        (4, "support"),
        (4, "support"),
        (5, "scenario"),
        (6, "row"),
    ]
    assert "2 cells" in errors[0].message
    assert "3" in errors[0].message
    assert errors[1].allowed == SUPPORT_LEVELS == ("yes", "no", "partial", "unknown")
    assert (errors[1].value, errors[2].value) == ("Maybe", "sure")
    assert "LoRA" in errors[1].message
    assert "QLoRA" in errors[2].message


def test_markdown_row_after_trailing_text_is_an_error() -> None:
    text = "|Scenario|LoRA|\n|QA|Yes|\nSee below.\n|Chat|No|\n"
    errors = errors_of(parse_markdown, text)
    assert where(errors) == [(4, "row")]
    assert "line 3" in errors[0].message


def test_markdown_duplicate_row_is_an_error_on_each_repeated_cell() -> None:
    text = "|Scenario|LoRA|QLoRA|\n|QA|Yes||\n|Chat|No|No|\n|qa|No|Yes|\n"
    errors = errors_of(parse_markdown, text)
    # Only LoRA repeats: the first QA row left QLoRA empty.
    assert where(errors) == [(4, "cell")]
    assert "row 2" in errors[0].message


# --- CSV ------------------------------------------------------------------------------------

CSV_TEXT = (
    "scenario,technique,support,note,sources\r\n"  # line 1
    'qa-tasks,lora,yes,"Works, mostly",https://a.example ; https://b.example\r\n'  # 2
    'reduce-memory,qlora,partial,"Line one\r\nline ""two""",\r\n'  # 3-4
    "reduce-cost,dora,No,,https://c.example\r\n"  # 5
)


def test_csv_reads_quoted_commas_newlines_and_quotes_with_record_start_lines() -> None:
    assert parse_csv(CSV_TEXT) == [
        CellEdit(
            2,
            "qa-tasks",
            "lora",
            "yes",
            "Works, mostly",
            ("https://a.example", "https://b.example"),
        ),
        CellEdit(3, "reduce-memory", "qlora", "partial", 'Line one\r\nline "two"', ()),
        CellEdit(5, "reduce-cost", "dora", "no", "", ("https://c.example",)),
    ]


def test_csv_round_trips_the_service_export() -> None:
    from service.catalog.render import csv_lines
    from service.snapshot import CellData

    cells = [
        CellData("qa", "lora", "yes", 'Commas, "quotes"\nand a newline', ("https://x/1",), 3),
        CellData("qa", "dora", "unknown", "", (), 3),
        CellData("mem", "zero", "partial", "n", ("https://x/2", "https://x/3"), 3),
    ]
    edits = parse_csv(csv_lines(cells, header=True))
    assert [(e.scenario, e.technique, e.support, e.note, e.sources) for e in edits] == [
        (c.scenario, c.technique, c.support, c.note, c.sources) for c in cells
    ]
    assert [e.row for e in edits] == [2, 4, 5]


def test_csv_optional_columns_any_order_and_blank_lines() -> None:
    text = "\ufeffSupport , Technique,SCENARIO\n\nyes,lora,qa\n,,\nNO , qlora , chat \n"
    assert parse_csv(text) == [
        CellEdit(3, "qa", "lora", "yes", None, None),
        CellEdit(5, "chat", "qlora", "no", None, None),
    ]


def test_csv_sources_split_on_semicolons_and_drop_empty_pieces() -> None:
    text = "scenario,technique,support,sources\nqa,lora,yes,a;b ;  ; c ;\n"
    assert parse_csv(text)[0].sources == ("a", "b", "c")


def test_csv_header_errors_list_the_allowed_columns() -> None:
    errors = errors_of(parse_csv, "scenario,Tech,support,notes,support\nqa,lora,yes,x,y\n")
    assert where(errors) == [(1, "header")] * 4
    assert [e.value for e in errors[:3]] == ["tech", "notes", "support"]
    assert errors[0].allowed == CSV_COLUMNS
    assert "twice" in errors[2].message
    assert "technique" in errors[3].message
    assert errors[3].allowed == CSV_COLUMNS


def test_csv_empty_text_has_no_header() -> None:
    assert where(errors_of(parse_csv, "")) == [(1, "header")]
    assert where(errors_of(parse_csv, "\r\n\r\n")) == [(1, "header")]


def test_csv_row_errors_carry_their_line_and_are_all_reported() -> None:
    text = (
        "scenario,technique,support,note\n"  # 1
        'qa,lora,yes,"two\nlines"\n'  # 2-3: fine
        "qa,qlora,yes\n"  # 4: too few fields
        "qa,peft,yes,note,extra\n"  # 5: too many fields
        "qa,dora,maybe,\n"  # 6: bad level
        " ,,,\n"  # 7: blank, skipped
        ",zero,,\n"  # 8: empty scenario and support
        "qa,LORA,no,\n"  # 9: duplicate of line 2
    )
    errors = errors_of(parse_csv, text)
    assert where(errors) == [
        (4, "row"),
        (5, "row"),
        (6, "support"),
        (8, "scenario"),
        (8, "support"),
        (9, "cell"),
    ]
    assert "3 fields" in errors[0].message
    assert "4" in errors[0].message
    assert errors[2].value == "maybe"
    assert errors[2].allowed == SUPPORT_LEVELS
    assert errors[4].allowed == SUPPORT_LEVELS
    assert "row 2" in errors[5].message


def test_csv_unterminated_quote_is_an_error_where_the_record_starts() -> None:
    text = 'scenario,technique,support,note\nqa,lora,nope,\nqa,dora,yes,"open\nmore\n'
    errors = errors_of(parse_csv, text)
    assert where(errors) == [(2, "support"), (3, "body")]
    assert "CSV" in errors[1].message


def test_csv_text_after_a_closing_quote_is_an_error() -> None:
    text = 'scenario,technique,support\nqa,lora,"yes"x\n'
    assert where(errors_of(parse_csv, text)) == [(2, "body")]


# --- JSON -----------------------------------------------------------------------------------


def test_json_reads_cells_with_optional_note_and_sources() -> None:
    data = {
        "cells": [
            {"scenario": " qa ", "technique": "lora", "support": "Yes"},
            {"scenario": "qa", "technique": "dora", "support": "no", "note": "", "sources": []},
            {
                "scenario": "mem",
                "technique": "zero",
                "support": "partial",
                "note": "n",
                "sources": [" https://x "],
            },
            {"scenario": "mem", "technique": "lora", "support": "unknown", "note": None},
        ]
    }
    assert parse_json(data) == [
        CellEdit(1, "qa", "lora", "yes", None, None),
        CellEdit(2, "qa", "dora", "no", "", ()),
        CellEdit(3, "mem", "zero", "partial", "n", ("https://x",)),
        CellEdit(4, "mem", "lora", "unknown", None, None),
    ]


def test_json_unknown_keys_name_the_allowed_ones() -> None:
    data = {"cells": [{"scenario": "qa", "technique": "lora", "support": "yes", "notes": "x"}]}
    errors = errors_of(parse_json, data)
    assert where(errors) == [(1, "notes")]
    assert errors[0].allowed == CELL_KEYS == CSV_COLUMNS
    assert errors[0].value == "notes"
    errors = errors_of(parse_json, {"cells": [], "message": "hi"})
    assert where(errors) == [(0, "body")]
    assert errors[0].allowed == ("cells",)


def test_json_wrong_types_are_all_reported_per_cell() -> None:
    data = {
        "cells": [
            {"scenario": 7, "technique": "", "support": "yes", "note": 1, "sources": "x"},
            "qa,lora,yes",
            {"scenario": "qa", "technique": "lora", "support": "maybe"},
            {"technique": "lora", "support": "no", "sources": ["ok", 3]},
            {"scenario": "qa", "technique": "peft", "support": None},
        ]
    }
    errors = errors_of(parse_json, data)
    assert where(errors) == [
        (1, "scenario"),
        (1, "technique"),
        (1, "note"),
        (1, "sources"),
        (2, "cell"),
        (3, "support"),
        (4, "scenario"),
        (4, "sources"),
        (5, "support"),
    ]
    assert "got 7." in errors[0].message
    assert 'got "".' in errors[1].message
    assert errors[5].allowed == SUPPORT_LEVELS
    assert errors[5].value == "maybe"
    assert "got nothing" in errors[6].message
    assert "got null" in errors[8].message


@pytest.mark.parametrize(
    ("data", "field"),
    [([], "body"), ("cells", "body"), ({}, "cells"), ({"cells": {"a": 1}}, "cells")],
)
def test_json_body_shape_errors_are_on_row_zero(data: object, field: str) -> None:
    assert where(errors_of(parse_json, data)) == [(0, field)]


def test_json_duplicate_is_an_error_on_the_second_row_ignoring_case() -> None:
    cells = [
        {"scenario": "QA", "technique": "LoRA", "support": "yes"},
        {"scenario": "qa", "technique": "dora", "support": "yes"},
        {"scenario": "qa", "technique": "lora", "support": "no"},
    ]
    errors = errors_of(parse_json, {"cells": cells})
    assert where(errors) == [(3, "cell")]
    assert "row 1" in errors[0].message
    assert errors[0].value == "qa / lora"


# --- Shared rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (parse_json, {"cells": []}),
        (parse_csv, "scenario,technique,support\r\n"),
        (parse_markdown, "|Scenario|LoRA|\n|-|-|\n"),
        (parse_markdown, "|Scenario|LoRA|QLoRA|\n|QA|||\n"),
    ],
)
def test_no_cells_to_change_is_an_error(parse: object, body: object) -> None:
    errors = errors_of(parse, body)
    assert where(errors) == [(0, "body")]
    assert "no cells to change" in errors[0].message


def test_more_than_the_limit_of_json_cells_is_refused_before_reading_them() -> None:
    assert bulk.MAX_EDITS == 100_000
    errors = errors_of(parse_json, {"cells": [None] * 100_001})
    assert where(errors) == [(0, "body")]
    assert parse_json({"cells": [{"scenario": "s", "technique": "t", "support": "no"}]})


def test_limit_stops_csv_and_markdown_at_the_row_that_exceeds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk, "MAX_EDITS", 3)
    rows = "".join(f"s{i},t,yes\n" for i in range(10))
    errors = errors_of(parse_csv, "scenario,technique,support\n" + rows)
    assert where(errors) == [(5, "body")]
    text = "|Scenario|A|B|\n|s1|yes|yes|\n|s2|yes|yes|\n|s3|maybe|yes|\n"
    errors = errors_of(parse_markdown, text)
    assert where(errors) == [(3, "body")]
    three = "|Scenario|A|B|C|\n|s1|yes|yes|yes|\n"
    assert len(parse_markdown(three)) == 3


def test_error_renders_the_first_problem_and_survives_pickling() -> None:
    errors = errors_of(parse_csv, "scenario,technique,support\nqa,lora,x\nqa,dora,y\n")
    exc = BulkParseError(errors)
    assert str(exc).startswith("row 2: ")
    assert str(exc).endswith("(and 1 more)")
    assert [e.row for e in BulkParseError([errors[1], errors[0]]).errors] == [2, 3]
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object
    assert copy.errors == errors


def test_an_error_carries_the_rows_that_did_parse_in_every_format() -> None:
    csv_text = "scenario,technique,support\nqa,lora,no\nqa,dora,maybe\nqa,peft,yes\n"
    md_text = "|Scenario|lora|dora|\n|-|-|-|\n|qa|No|maybe|\n"
    json_body = {"cells": [{"scenario": "qa", "technique": t, "support": level}
                           for t, level in (("lora", "no"), ("dora", "maybe"))]}  # fmt: skip
    cases: list[tuple[Callable[[Any], list[CellEdit]], object, list[tuple[int, str, str, str]]]]
    cases = [
        (parse_csv, csv_text, [(2, "qa", "lora", "no"), (4, "qa", "peft", "yes")]),
        (parse_markdown, md_text, [(3, "qa", "lora", "no")]),
        (parse_json, json_body, [(1, "qa", "lora", "no")]),
    ]
    for parse, body, good in cases:
        with pytest.raises(BulkParseError) as info:
            parse(body)
        assert [e.field for e in info.value.errors] == ["support"]
        assert triples(list(info.value.edits)) == good
        copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own object
        assert (copy.errors, copy.edits) == (info.value.errors, info.value.edits)


def test_a_body_that_cannot_be_read_carries_no_rows() -> None:
    for content_type, body in [("text/csv", b"\xff"), ("application/json", b"{")]:
        with pytest.raises(BulkParseError) as info:
            parse_body(content_type, body)
        assert info.value.edits == ()
    with pytest.raises(BulkParseError) as info:
        parse_csv("scenario,technic,support\nqa,lora,no\n")
    assert info.value.edits == ()


# --- parse_body -----------------------------------------------------------------------------


ONE_JSON = json.dumps({"cells": [{"scenario": "qa", "technique": "lora", "support": "no"}]})


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", ONE_JSON.encode()),
        ("Application/JSON; charset=utf-8", ONE_JSON.encode()),
        ("application/json", "\ufeff".encode() + ONE_JSON.encode()),
        ("text/csv; charset=UTF-8", b"scenario,technique,support\r\nqa,lora,no\r\n"),
        ("text/markdown;charset=utf-8", b"|Scenario|lora|\n|-|-|\n|qa|No|\n"),
        (" text/x-markdown ; variant=GFM", b"Scenario|lora\nqa|no\n"),
    ],
)
def test_parse_body_dispatches_on_the_media_type(content_type: str, body: bytes) -> None:
    edits = parse_body(content_type, body)
    assert [(e.scenario, e.technique, e.support) for e in edits] == [("qa", "lora", "no")]


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/xml; charset=utf-8"])
def test_parse_body_refuses_other_media_types(content_type: str) -> None:
    with pytest.raises(UnsupportedBulkType) as info:
        parse_body(content_type, b"{}")
    assert info.value.allowed == MEDIA_TYPES
    assert info.value.media_type == content_type.split(";")[0]


def test_parse_body_reports_invalid_utf8_with_its_line() -> None:
    body = "scenario,technique,support\nqa,lora,yes\ncafé,lora,no\n".encode("latin-1")
    errors = errors_of(parse_body, "text/csv", body)
    assert where(errors) == [(3, "body")]
    assert "UTF-8" in errors[0].message


def test_parse_body_reports_malformed_json_with_its_line() -> None:
    body = b'{\n  "cells": [\n    {"scenario": "qa",}\n  ]\n}\n'
    errors = errors_of(parse_body, "application/json", body)
    assert where(errors) == [(3, "body")]
    assert "line 3 column 23" in errors[0].message


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"cells": [' + b"1" * 5_000 + b"]}"],
    ids=["too-deep", "huge-integer"],
)
def test_parse_body_reports_json_that_cannot_be_read_at_all(body: bytes) -> None:
    assert where(errors_of(parse_body, "application/json", body)) == [(0, "body")]
