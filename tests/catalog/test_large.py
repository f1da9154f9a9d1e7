"""What keeps reads proportional to what they return: cells read by index, chunked output,
streaming of large documents, and snapshots that reuse what a write did not touch.

The sizes here are small; the properties are checked by counting queries and by comparing the
chunked and streamed output with the whole, never by timing (bench/scale.py measures).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.admin.schemas import WriteResult
from service.catalog import render
from service.catalog import schemas as catalog_schemas
from service.catalog import service as catalog
from service.compat import schemas as compat_schemas
from service.compat import service as compat
from service.snapshot import Snapshot
from service.snapshot import cells as snapshot_cells
from service.snapshot import data as snapshot_data
from service.snapshot import load as snapshot_load
from service.vocabulary import Support
from service.web import routing
from tests.helpers import Headers, statements, store_of
from tests.published import CURRENT, SEED

MATRIX_TARGETS = [
    "/v1/matrix",
    "/v1/matrix?format=csv",
    "/v1/matrix?format=markdown",
    "/v1/matrix?support=no",
    "/v1/matrix?support=partial&format=markdown",
    "/v1/matrix?technique=lora&technique=qlora&format=csv",
    "/v1/matrix?scenario=qa-tasks&scenario=reduce-memory",
    f"/v1/matrix?at={SEED}&format=markdown",
    "/v1/export",
    "/v1/recommendations?scenario=reduce-memory&scenario=qa-tasks",
]


@pytest.fixture(autouse=True)
def cells_by_index(client: TestClient) -> None:
    """These tests are about reading cells through the database's indexes, as a large catalog
    does: the seed's few cells are neither held nor packed in memory (tests/snapshot covers
    both)."""
    store_of(client).hold_limit = 0
    store_of(client).pack_limit = 0


def cell_queries(client: TestClient) -> AbstractContextManager[list[str]]:
    """The statements on cell_version run inside the block (an executemany counts once)."""
    return statements(store_of(client).engine)


def bodies(client: TestClient) -> dict[str, tuple[int, bytes]]:
    out = {}
    for target in MATRIX_TARGETS:
        response = client.get(target)
        out[target] = (response.status_code, response.content)
    return out


def test_chunked_reads_write_exactly_the_whole(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = client.app.fast  # type: ignore[attr-defined]
    fast.enabled = False  # every request reaches the application
    whole = bodies(client)
    assert all(status == 200 for status, _ in whole.values())
    # Two scenario rows a chunk, and IN lists of two ids: many chunks, many queries.
    monkeypatch.setattr(catalog, "CHUNK_ROWS", 2)
    monkeypatch.setattr(compat, "EXPORT_CHUNK_ROWS", 2)
    monkeypatch.setattr(snapshot_cells, "_IN_CHUNK", 2)
    assert bodies(client) == whole
    # Streamed past 100 bytes: same bytes, chunked, without Content-Length.
    monkeypatch.setattr(routing, "STREAM_AFTER_BYTES", 100)
    assert bodies(client) == whole
    streamed = client.get("/v1/matrix")
    assert "content-length" not in streamed.headers
    assert streamed.headers["etag"] == f'"rev-{CURRENT}"'
    assert streamed.headers["vary"] == "Accept"


def test_streamed_json_is_what_pydantic_writes(client: TestClient) -> None:
    snap = store_of(client).current()
    for view in (
        catalog.matrix(snap),
        catalog.matrix(snap, support=[Support.partial]),
        catalog.matrix(snap, ["qa-tasks"], ["lora", "dora"]),
    ):
        joined = b"".join(render.matrix_json_parts(view))
        scenarios, techniques = catalog.matrix_refs(view)
        whole = catalog_schemas.Matrix.model_validate(
            {
                "revision": view.snap.revision,
                "scenarios": scenarios,
                "techniques": techniques,
                "cells": [catalog.cell_fields(c) for c in view.cells()],
            }
        )
        assert joined == whole.model_dump_json().encode()
    document = compat.export_document(snap)
    joined = b"".join(compat.export_parts(snap))
    model = compat_schemas.SnapshotDocument.model_validate(document)
    assert joined == model.model_dump_json().encode()
    assert json.loads(joined) == document


def test_a_row_or_a_column_is_one_query_whatever_the_catalog_holds(client: TestClient) -> None:
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    for target in (
        "/v1/scenarios/qa-tasks/techniques",
        "/v1/techniques/lora/scenarios",
        "/v1/matrix/qa-tasks/lora",
        "/v1/recommendations?scenario=reduce-memory&scenario=qa-tasks",
    ):
        with cell_queries(client) as seen:
            assert client.get(target).status_code == 200
        assert len(seen) == 1, target
        where = seen[0].partition("WHERE")[2]
        assert "cell_version.scenario_id" in where or "cell_version.technique_id" in where
    with cell_queries(client) as seen:
        assert client.get("/v1/techniques/lora").status_code == 200
        assert client.get("/v1/scenarios").status_code == 200
    assert seen == []  # entity reads never touch the cells


def test_a_cell_write_keeps_techniques_and_scenarios_a_technique_write_reloads_them(
    client: TestClient, h: Headers
) -> None:
    store = store_of(client)
    before = store.current()
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    after = store.current()
    assert after.revision == before.revision + 1
    assert after.techniques is before.techniques
    assert after.scenarios is before.scenarios
    assert after.pairs is before.pairs
    assert after.technique_lookup is before.technique_lookup
    assert client.get("/v1/matrix/qa-tasks/lora").json()["cell"]["support"] == "no"

    renamed = client.patch(
        "/v1/techniques/lora", json={"id": "lora-renamed"}, headers=h(rev=after.revision)
    )
    assert renamed.status_code == 200, renamed.text
    latest = store.current()
    assert latest.techniques is not after.techniques
    assert latest.find_technique("lora") is latest.find_technique("lora-renamed") is not None
    assert client.get("/v1/matrix/qa-tasks/lora-renamed").json()["cell"]["support"] == "no"
    # The old snapshots still read as they did.
    assert_same_cells(store.at(before.revision), "qa-tasks", "lora", "yes")
    assert_same_cells(store.at(after.revision), "qa-tasks", "lora", "no")


def assert_same_cells(snap: Snapshot | None, scenario: str, technique: str, support: str) -> None:
    assert snap is not None
    cell = snap.cells.get(scenario, technique)
    assert cell is not None
    assert cell.support == support


def test_a_bulk_edit_is_a_fixed_number_of_statements(client: TestClient, h: Headers) -> None:
    body = {"cells": [
        {"scenario": sc, "technique": t, "support": "partial"}
        for sc in ("qa-tasks", "nlp-tasks", "chatbot-responses", "domain-adaptation")
        for t in ("lora", "qlora", "dora", "zero-3")
    ]}  # fmt: skip
    with cell_queries(client) as seen:
        response = client.patch("/v1/matrix", json=body, headers=h())
    assert response.status_code == 200, response.text
    assert response.json()["changes"]
    # Written without the model, byte for byte what the model writes.
    assert (
        response.content
        == WriteResult.model_validate_json(response.content).model_dump_json().encode()
    )
    updates = [q for q in seen if q.lstrip().upper().startswith("UPDATE")]
    inserts = [q for q in seen if q.lstrip().upper().startswith("INSERT")]
    # Statements, not rows: the closing UPDATE and the INSERT are each one executemany.
    assert (len(updates), len(inserts)) == (1, 1)
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1  # the crossing of the rows and columns touched, not whole rows
    assert "scenario_id IN" in selects[0]
    assert "technique_id IN" in selects[0]
    for cell in body["cells"]:
        read = client.get(f"/v1/matrix/{cell['scenario']}/{cell['technique']}").json()
        assert read["cell"]["support"] == "partial"

    # Its revert: one read of the cells touched, one closing UPDATE, one INSERT.
    def contents(target: str) -> list[tuple[str, str, str, str, list[str]]]:
        cells = client.get(target).json()["cells"]
        return [
            (c["scenario"], c["technique"], c["support"], c["note"], c["sources"]) for c in cells
        ]

    before = contents(f"/v1/matrix?at={CURRENT}")
    with cell_queries(client) as seen:
        reverted = client.post(f"/v1/revisions/{CURRENT + 1}/revert", headers=h(rev=CURRENT + 1))
    assert reverted.status_code in (200, 201), reverted.text
    kinds = sorted(q.lstrip().split(None, 1)[0].upper() for q in seen)
    assert kinds == ["INSERT", "SELECT", "UPDATE"]
    assert contents("/v1/matrix") == before


def test_a_bulk_edit_of_cells_never_set_closes_nothing(client: TestClient, h: Headers) -> None:
    body = {"id": "galore", "name": "GaLore", "category": "other"}
    assert client.post("/v1/techniques", json=body, headers=h()).status_code == 201
    cells = {"cells": [
        {"scenario": sc, "technique": "galore", "support": "partial"}
        for sc in ("qa-tasks", "nlp-tasks", "chatbot-responses")
    ]}  # fmt: skip
    with cell_queries(client) as seen:
        response = client.patch("/v1/matrix", json=cells, headers=h(rev=CURRENT + 1))
    assert response.status_code == 200, response.text
    assert [c["op"] for c in response.json()["changes"]] == ["create"] * 3
    kinds = sorted(q.lstrip().split(None, 1)[0].upper() for q in seen)
    assert kinds == ["INSERT", "SELECT"]  # the read showed none set: nothing to close
    column = client.get("/v1/techniques/galore/scenarios?support=partial").json()["items"]
    assert {i["scenario"]["id"] for i in column} == {"qa-tasks", "nlp-tasks", "chatbot-responses"}


def test_a_technique_filter_reaches_the_database(client: TestClient) -> None:
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    engine = store_of(client).engine
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM cell_version" in statement:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get("/v1/matrix?technique=lora&technique=qlora&format=csv")
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert seen
    assert all("technique_id IN" in q and "scenario_id IN" in q for q, _ in seen)
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL plans from its statistics
    # SQLite has no statistics (the service never runs ANALYZE), so its plan depends on the
    # query, not the data: a chunk of 100 rows' cells in two columns must seek the (scenario,
    # technique) index, not scan both columns through the technique index for every chunk.
    cells = snapshot_cells._CELLS
    statement = (
        store_of(client)
        .current()
        .cells.statement(cells.c.scenario_id.in_(range(1, 101)), cells.c.technique_id.in_([1, 2]))
    )
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    details = " ".join(row[-1] for row in plan)
    assert "ix_cell_version_scenario_technique (scenario_id=? AND technique_id=?" in details
    assert "ix_cell_version_technique_current" not in details


def test_cells_come_in_display_order_however_they_are_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = store_of(client).current()
    whole = list(snap.cells.select())
    display = [(sc, t) for sc in snap.scenarios for t in snap.techniques]
    assert whole == [key for key in display if key in set(whole)]
    assert len(whole) == 54
    monkeypatch.setattr(snapshot_cells, "_IN_CHUNK", 2)  # many IN lists, answered one after another
    assert list(snap.cells.rows(reversed(list(snap.scenarios)))) == whole
    assert list(snap.cells.select(None, list(snap.techniques))) == whole
    assert list(snap.cells.select(None, ["qlora", "lora"])) == [
        k for k in whole if k[1] in ("lora", "qlora")
    ]


def test_picked_cells_are_exactly_those_asked_for(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = store_of(client).current()
    whole = snap.cells.select()
    scattered = list(whole)[::7]
    assert len({s for s, _ in scattered}) > 1
    assert len({t for _, t in scattered}) > 1
    asked = [*scattered, ("qa-tasks", "no-such-technique"), ("no-such-scenario", "lora")]
    for chunk in (450, 2, 1):  # one query; many, each holding a few rows
        monkeypatch.setattr(snapshot_cells, "_IN_CHUNK", chunk)
        picked = snap.cells.pick(reversed(asked))
        # Not the crossing of the rows and columns touched: only the pairs asked for.
        assert set(picked) == set(scattered)
        assert all(picked[k] == whole[k] for k in scattered)
    assert snap.cells.pick([]) == {}


def test_a_snapshot_patched_from_the_previous_one_equals_a_full_reload(
    client: TestClient, h: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(client)
    loads: list[int] = []  # revisions whose techniques and scenarios were read in full
    real_load = snapshot_load._load_entities

    def counting_load(conn: sa.Connection, at: int) -> Any:
        loads.append(at)
        return real_load(conn, at)

    monkeypatch.setattr(snapshot_load, "_load_entities", counting_load)

    def write(method: str, path: str, body: dict[str, Any] | None = None) -> int:
        revision = store.current().revision
        response = client.request(method, path, json=body, headers=h(rev=revision))
        assert response.status_code in (200, 201), response.text
        return revision + 1

    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/techniques", {"id": "galore", "name": "GaLore", "category": "other"}),
        ("POST", "/v1/techniques", {"id": "q-galore", "name": "Q-GaLore", "category": "other",
                                    "parent": "galore"}),
        ("PATCH", "/v1/techniques/dora", {"id": "dora-renamed", "aliases": ["weight-decomposed"]}),
        ("PATCH", "/v1/scenarios/qa-tasks", {"title": "Question answering"}),
        ("DELETE", "/v1/scenarios/nlp-tasks", None),
        ("POST", "/v1/scenarios", {"id": "long-context", "title": "Long context", "kind": "goal"}),
        ("PATCH", "/v1/techniques/galore", {"id": "galore-2"}),  # a kept child names it: reload
        ("DELETE", "/v1/techniques/q-galore", None),
    ]  # fmt: skip
    reloaded = []
    for method, path, body in steps:
        revision = write(method, path, body)
        current = store.current()
        assert current.revision == revision
        if revision in loads:
            reloaded.append(path)
        with store.engine.connect() as conn:
            fresh = real_load(conn, revision)
            pairs = snapshot_load._load_pairs(conn, revision, fresh[0])
            full = snapshot_data.Snapshot(revision, *fresh, cells=current.cells, pairs=pairs)
        assert list(current.techniques.items()) == list(fresh[0].items()), path
        assert list(current.scenarios.items()) == list(fresh[1].items()), path
        assert current.technique_lookup == full.technique_lookup
        assert current.scenario_lookup == full.scenario_lookup
        assert current.pairs == full.pairs
    assert reloaded == ["/v1/techniques/galore"]  # all were patched but the rename of a parent
    # Reverting a retirement brings an older key back: it returns to its place in the order.
    retired = store.current().revision
    reverted = client.post(f"/v1/revisions/{retired}/revert", headers=h(rev=retired))
    assert reverted.status_code in (200, 201), reverted.text
    with store.engine.connect() as conn:
        fresh = real_load(conn, store.current().revision)
    assert list(store.current().techniques.items()) == list(fresh[0].items())
    assert list(store.current().techniques)[-2:] == ["galore-2", "q-galore"]


@pytest.mark.parametrize("cells", ["by index", "packed", "held"])
def test_rows_and_columns_are_the_bytes_their_models_serialize_to(
    client: TestClient, h: Headers, cells: str
) -> None:
    # The API writes rows and columns straight from pieces of JSON (no model per item); the
    # bytes must be exactly the model's, escapes included, however the cells are read.
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    store = store_of(client)
    if cells == "packed":
        store.pack_limit = 1000
    elif cells == "held":
        store.hold_limit = 1000
    awkward = 'quote " backslash \\ tab \t newline \n bell \x07 é 漢字 🙂 </script> \u2028'
    for step, (target, body) in enumerate((
        ("/v1/matrix/qa-tasks/lora", {"support": "partial", "note": awkward, "sources": ["ü://x"]}),
        ("/v1/matrix/reduce-memory/dora", {"support": "yes", "note": "", "sources": []}),
    )):  # fmt: skip
        assert client.put(target, json=body, headers=h(CURRENT + step)).status_code == 200
    snap = store.current()
    assert (snap.cells.packed is not None) == (cells == "packed")
    assert snap.cells.in_memory == (cells == "held")
    filters: list[list[Support]] = [[], [Support.partial], [Support.yes, Support.no]]
    for support in filters:
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("support", str(level)) for level in support
        ]
        for sc in snap.scenarios:
            response = client.get(f"/v1/scenarios/{sc}/techniques", params=params)
            model = catalog.scenario_row(snap, sc, support)
            assert response.content == model.model_dump_json().encode(), (sc, support)
            assert response.headers["etag"] == f'"rev-{snap.revision}"'
            assert response.headers["content-type"] == "application/json"
        for t in snap.techniques:
            response = client.get(f"/v1/techniques/{t}/scenarios", params=params)
            model_t = catalog.technique_column(snap, t, support)
            assert response.content == model_t.model_dump_json().encode(), (t, support)
    items = client.get("/v1/techniques/lora/scenarios").json()["items"]
    assert [i["note"] for i in items if i["scenario"]["id"] == "qa-tasks"] == [awkward]
    assert client.get("/v1/scenarios/no-such/techniques").status_code == 404
    assert client.get("/v1/techniques/lora/scenarios?support=maybe").status_code == 422
