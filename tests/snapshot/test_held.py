"""Held cells: a small catalog's cells in memory give the very answers the indexed reads give,
stay right across writes by reading only what a write changed, and cost no query to read."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.snapshot import Snapshot, SnapshotStore
from service.snapshot import held as snapshot_held
from service.snapshot.cells import CellIndex
from tests.helpers import Headers, statements, store_of
from tests.published import CURRENT, SEED


def by_index(store: SnapshotStore, revision: int) -> CellIndex:
    """The cells of `revision` as a catalog too large to hold reads them: from the database."""
    indexed = SnapshotStore(store.engine, hold_limit=0).at(revision)
    assert indexed is not None
    assert indexed.cells.held is None
    return indexed.cells


def assert_same_answers(held: CellIndex, indexed: CellIndex) -> None:
    """Every read, compared with its order: held cells and indexed reads are interchangeable."""
    assert held.held is not None
    scenarios, techniques = list(held.scenarios), list(held.techniques)
    everything = list(indexed.select().items())
    assert everything, "the seed has cells"
    assert list(held.select().items()) == everything
    assert list(held.rows(reversed(scenarios)).items()) == everything
    assert list(held.select(None, ["qlora", "lora"]).items()) == list(
        indexed.select(None, ["qlora", "lora"]).items()
    )
    assert list(held.select(scenarios[::2], techniques[1::2]).items()) == list(
        indexed.select(scenarios[::2], techniques[1::2]).items()
    )
    assert held.select([], None) == indexed.select([], None) == {}
    for sc in [*scenarios, "no-such-scenario"]:
        assert list(held.row(sc).items()) == list(indexed.row(sc).items())
    for t in [*techniques, "no-such-technique"]:
        assert held.column(t) == indexed.column(t)
        for sc in scenarios[:3]:
            assert held.get(sc, t) == indexed.get(sc, t)
    asked = [*[key for key, _ in everything][::3], ("qa-tasks", "nope"), ("nope", "lora")]
    assert list(held.pick(reversed(asked)).items()) == list(indexed.pick(asked).items())


def test_held_cells_read_as_the_database_does(client: TestClient) -> None:
    store = store_of(client)
    for revision in (CURRENT, SEED):
        snap = store.at(revision)
        assert snap is not None
        assert snap.cells.in_memory
        assert_same_answers(snap.cells, by_index(store, revision))


def test_reads_of_held_cells_make_no_query(client: TestClient) -> None:
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    assert client.get("/v1/matrix").status_code == 200  # loads the snapshot
    with statements(store_of(client).engine) as seen:
        for target in (
            "/v1/matrix",
            "/v1/matrix?format=csv",
            "/v1/matrix/qa-tasks/lora",
            "/v1/scenarios/qa-tasks/techniques",
            "/v1/techniques/lora/scenarios",
            "/v1/recommendations?scenario=reduce-memory&scenario=qa-tasks",
        ):
            assert client.get(target).status_code == 200, target
        check = {"techniques": ["lora"], "scenarios": ["reduce-memory"]}
        assert client.post("/v1/checks", json=check).status_code == 200
    assert seen == []


def test_writes_patch_held_cells_with_what_they_changed(client: TestClient, h: Headers) -> None:
    store = store_of(client)
    first = store.current()
    assert first.cells.held is not None

    def write(method: str, path: str, body: dict[str, Any]) -> Snapshot:
        revision = store.current().revision
        with statements(store.engine) as seen:
            response = client.request(method, path, json=body, headers=h(rev=revision))
            assert response.status_code in (200, 201), response.text
            snap = store.current()
        assert snap.revision == revision + 1
        assert snap.cells.held is not None
        reads = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
        # The write's own reads come from the held cells of the snapshot it writes on; the
        # next snapshot reads only the rows the write touched: one query, no full read.
        assert len(reads) == 1, reads
        assert "valid_from BETWEEN" in reads[0]
        assert_same_answers(snap.cells, by_index(store, snap.revision))
        return snap

    changed = write("PUT", "/v1/matrix/qa-tasks/lora", {"support": "no", "note": "changed"})
    assert changed.cells.get("qa-tasks", "lora") is not None
    assert changed.cells.get("qa-tasks", "lora").support == "no"  # type: ignore[union-attr]
    never_set = next(
        (sc, t)
        for sc in changed.scenarios
        for t in changed.techniques
        if changed.cells.get(sc, t) is None
    )
    added = write("PUT", f"/v1/matrix/{never_set[0]}/{never_set[1]}", {"support": "partial"})
    assert added.cells.get(*never_set) is not None
    write("PATCH", "/v1/matrix", {"cells": [
        {"scenario": sc, "technique": t, "support": "yes"}
        for sc in ("qa-tasks", "nlp-tasks") for t in ("lora", "dora", "zero-3")
    ]})  # fmt: skip
    # Past snapshots keep reading as they did.
    past = store.at(first.revision)
    assert past is not None
    assert past.cells.get("qa-tasks", "lora") == first.cells.get("qa-tasks", "lora")
    assert_same_answers(past.cells, by_index(store, first.revision))


def test_a_new_technique_reloads_the_cells_and_a_revert_restores_them(
    client: TestClient, h: Headers
) -> None:
    store = store_of(client)
    body = {"id": "galore", "name": "GaLore", "category": "other"}
    assert client.post("/v1/techniques", json=body, headers=h()).status_code == 201
    assert client.put(
        "/v1/matrix/qa-tasks/galore", json={"support": "yes"}, headers=h(rev=CURRENT + 1)
    ).status_code in (200, 201)
    snap = store.current()
    assert snap.cells.get("qa-tasks", "galore") is not None
    assert_same_answers(snap.cells, by_index(store, snap.revision))
    reverted = client.post(f"/v1/revisions/{CURRENT + 2}/revert", headers=h(rev=CURRENT + 2))
    assert reverted.status_code in (200, 201), reverted.text
    latest = store.current()
    assert latest.cells.get("qa-tasks", "galore") is None
    assert_same_answers(latest.cells, by_index(store, latest.revision))


def test_a_catalog_past_the_limits_reads_its_cells_by_index(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(client)
    whole = by_index(store, CURRENT).select()
    store.hold_limit = len(whole) - 1
    assert SnapshotStore(store.engine, hold_limit=len(whole) - 1).current().cells.held is None
    assert SnapshotStore(store.engine, hold_limit=len(whole)).current().cells.held is not None
    monkeypatch.setattr(snapshot_held, "HOLD_BYTES", 1000)
    monkeypatch.setattr("service.snapshot.load.HOLD_BYTES", 1000)
    assert SnapshotStore(store.engine).current().cells.held is None
    # Whether held or not, the answers are the same.
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    cell = client.get("/v1/matrix/qa-tasks/lora")
    assert cell.status_code == 200
    assert cell.json()["cell"]["support"] == whole[("qa-tasks", "lora")].support


def test_the_weight_of_held_cells_counts_their_notes(client: TestClient) -> None:
    held = store_of(client).current().cells.held
    assert held is not None
    notes = sum(len(c.note) for c in held.cells.values())
    assert held.weight == len(held) * snapshot_held.CELL_BYTES + notes
    assert snapshot_held.cell_bytes(0, 0) == 0
