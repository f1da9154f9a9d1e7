"""GET /v1/matrix and /v1/matrix/{scenario}/{technique}: formats, filters, revisions."""

from __future__ import annotations

import csv
import io
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from tests.published import (
    COLUMN_IDS,
    CORRECTIONS,
    CORRECTIONS_REVISION,
    CURRENT,
    SCENARIO_IDS,
    SEED,
    TECHNIQUE_IDS,
    table_markdown,
    table_rows,
)


def test_markdown_of_revision_1_reproduces_the_published_table(client: TestClient) -> None:
    response = client.get("/v1/matrix", params={"at": SEED, "format": "markdown"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.text == table_markdown()
    assert response.headers["etag"] == f'"rev-{SEED}-markdown"'


def test_revision_1_has_54_cells_equal_to_the_published_table(client: TestClient) -> None:
    body = client.get("/v1/matrix", params={"at": SEED}).json()
    assert body["revision"] == SEED
    header, rows = table_rows()
    assert [t["name"] for t in body["techniques"]] == header
    assert [s["title"] for s in body["scenarios"]] == [title for title, _ in rows]
    assert len(body["cells"]) == 54
    expected = {
        (SCENARIO_IDS[i], COLUMN_IDS[j]): value.lower()
        for i, (_, values) in enumerate(rows)
        for j, value in enumerate(values)
    }
    assert {(c["scenario"], c["technique"]): c["support"] for c in body["cells"]} == expected


def test_current_matrix_shows_the_six_corrections_with_sources(client: TestClient) -> None:
    old = {
        (c["scenario"], c["technique"]): c
        for c in client.get("/v1/matrix", params={"at": SEED}).json()["cells"]
    }
    body = client.get("/v1/matrix").json()
    assert body["revision"] == CURRENT
    new = {
        (c["scenario"], c["technique"]): c
        for c in body["cells"]
        if (c["scenario"], c["technique"]) in old
    }
    assert len(new) == 54
    changed = {k for k in new if new[k]["support"] != old[k]["support"]}
    assert changed == set(CORRECTIONS)
    for key, (before, after) in CORRECTIONS.items():
        assert (old[key]["support"], new[key]["support"]) == (before, after)
        cell = new[key]
        # Written by the corrections, or restated by a later data migration (an erratum).
        assert cell["since_revision"] >= CORRECTIONS_REVISION
        assert cell["note"]
        assert any("PhiCookBook" in source for source in cell["sources"])
        assert any("arxiv.org" in s or "huggingface" in s for s in cell["sources"])
    corrected = client.get("/v1/matrix", params={"at": CORRECTIONS_REVISION}).json()["cells"]
    written = {
        (c["scenario"], c["technique"])
        for c in corrected
        if c["since_revision"] == CORRECTIONS_REVISION
    }
    assert written == set(CORRECTIONS)


def test_current_markdown_uses_the_revised_dora_spelling(client: TestClient) -> None:
    text = client.get("/v1/matrix", headers={"Accept": "text/markdown"}).text
    assert "|Scenario|LoRA|QLoRA|PEFT|DeepSpeed|ZeRO|DoRA|" in text
    assert "|Reducing memory usage|Yes|Yes|Yes|Yes|Yes|Yes|" in text


@pytest.mark.parametrize(
    ("accept", "query", "media"),
    [
        (None, None, "application/json"),
        ("text/csv", None, "text/csv; charset=utf-8"),
        ("text/markdown", None, "text/markdown; charset=utf-8"),
        ("text/html;q=0.9, text/csv;q=0.8", None, "text/csv; charset=utf-8"),
        ("*/*", None, "application/json"),
        ("text/csv", "json", "application/json"),
        ("application/json", "csv", "text/csv; charset=utf-8"),
    ],
)
def test_format_is_negotiated_by_accept_or_format(
    client: TestClient, accept: str | None, query: str | None, media: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    params = {"format": query} if query else {}
    response = client.get("/v1/matrix", headers=headers, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.headers["vary"] == "Accept"


def test_csv_has_one_cell_per_line_with_notes_and_sources(client: TestClient) -> None:
    text = client.get("/v1/matrix", params={"format": "csv", "at": CORRECTIONS_REVISION}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 54
    assert list(rows[0]) == ["scenario", "technique", "support", "note", "sources"]
    cell = next(r for r in rows if (r["scenario"], r["technique"]) == ("reduce-memory", "lora"))
    assert cell["support"] == "yes"
    assert "arxiv.org/abs/2106.09685" in cell["sources"]


def test_unacceptable_accept_is_406(client: TestClient) -> None:
    response = client.get("/v1/matrix", headers={"Accept": "application/xml"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    assert "text/csv" in response.json()["allowed"]


def test_filters_by_scenario_technique_and_support(client: TestClient) -> None:
    body = client.get(
        "/v1/matrix",
        params=[("scenario", "reduce-memory"), ("scenario", "QA"), ("technique", "DORA")],
    ).json()
    assert [(c["scenario"], c["technique"]) for c in body["cells"]] == [
        ("qa-tasks", "dora"),
        ("reduce-memory", "dora"),
    ]
    no_cells = client.get("/v1/matrix", params={"support": "no"}).json()
    assert {(c["scenario"], c["technique"]) for c in no_cells["cells"]} == {
        ("fewer-parameters", "deepspeed"),
        ("fewer-parameters", "zero"),
        ("data-parallel-memory", "lora"),
        ("data-parallel-memory", "qlora"),
        ("data-parallel-memory", "peft"),
        ("data-parallel-memory", "dora"),
    }
    assert [s["id"] for s in no_cells["scenarios"]] == ["fewer-parameters", "data-parallel-memory"]


def test_filtered_markdown_leaves_filtered_out_cells_empty(client: TestClient) -> None:
    text = client.get(
        "/v1/matrix",
        params=[("format", "markdown"), ("support", "no"), ("scenario", "fewer-parameters")],
    ).text
    assert text.splitlines()[2:] == [
        "|Scenario|DeepSpeed|ZeRO|",
        "|Using fewer parameters for efficient finetuning|No|No|",
    ]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"support": "maybe"}, 422, "allowed"),
        ({"format": "xml"}, 422, "allowed"),
        ({"scenario": "qa-taks"}, 404, "did_you_mean"),
        ({"technique": "lorra"}, 404, "did_you_mean"),
        ({"at": 0}, 422, "errors"),
        ({"at": "two"}, 422, "errors"),
        ({"at": CURRENT + 1}, 404, "latest_revision"),
    ],
)
def test_bad_matrix_queries_are_problems(
    client: TestClient, params: dict[str, object], status: int, field: str
) -> None:
    response = client.get("/v1/matrix", params=cast(Any, params))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body[field]


def test_one_cell_with_note_and_sources(client: TestClient) -> None:
    body = client.get("/v1/matrix/reduce-memory/LoRA").json()
    assert body["revision"] == CURRENT
    assert body["scenario"]["title"] == "Reducing memory usage"
    assert body["technique"] == {"id": "lora", "name": "LoRA"}
    assert body["cell"]["support"] == "yes"
    assert "3x" in body["cell"]["note"]
    old = client.get("/v1/matrix/reduce-memory/lora", params={"at": SEED}).json()
    assert old["revision"] == SEED
    assert old["cell"]["support"] == "no"
    assert old["cell"]["since_revision"] == SEED


def test_unknown_cell_parts_are_404_with_valid_ids(client: TestClient) -> None:
    response = client.get("/v1/matrix/reduce-memory/galore")
    assert response.status_code == 404
    assert response.json()["allowed"] == TECHNIQUE_IDS
    response = client.get("/v1/matrix/memory-reduction/lora")
    assert response.status_code == 404
    assert response.json()["allowed"] == SCENARIO_IDS


def test_techniques_added_later_read_as_unknown_until_set(client: TestClient) -> None:
    body = client.get("/v1/matrix", params={"technique": "zero-3"}).json()
    assert {c["support"] for c in body["cells"]} == {"unknown"}
    assert {c["since_revision"] for c in body["cells"]} == {None}
    assert len(body["cells"]) == len(SCENARIO_IDS)
    assert len(client.get("/v1/matrix").json()["cells"]) == len(SCENARIO_IDS) * len(TECHNIQUE_IDS)
