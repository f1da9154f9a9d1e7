"""Packed cells: a large catalog's newest revision gives, from memory, the very rows, columns and
cells the indexed reads give; stays right across every kind of write by reading only what each
one changed; and is never built for an `at=` read of an older revision."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.catalog import service as catalog
from service.snapshot import CellData, Changed, Section, Snapshot, SnapshotStore
from service.snapshot.cells import CellIndex
from service.snapshot.load import followed_snapshot
from service.vocabulary import Support
from tests.helpers import Headers, statements, store_of
from tests.published import CURRENT, SEED


@pytest.fixture
def store(client: TestClient) -> SnapshotStore:
    """The app's store as for a catalog too large to hold: cells packed, not held."""
    found = store_of(client)
    found.hold_limit = 0
    found.pack_limit = 10_000
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    return found


def by_index(store: SnapshotStore, revision: int) -> CellIndex:
    indexed = SnapshotStore(store.engine, hold_limit=0).at(revision)
    assert indexed is not None
    assert indexed.cells.held is None
    assert indexed.cells.packed is None
    return indexed.cells


def assert_same_answers(packed: CellIndex, indexed: CellIndex) -> None:
    assert packed.packed is not None
    assert packed.revision == indexed.revision
    everything = indexed.select()
    assert len(packed.packed) == len(everything)
    rebuilt = type(packed.packed)(
        packed.packed.rows, packed.packed.slots, packed.techniques, packed.scenarios
    )
    assert (rebuilt.count, rebuilt.weight) == (packed.packed.count, packed.packed.weight)
    for sc in [*indexed.scenarios, "no-such-scenario"]:
        assert list(packed.row(sc).items()) == list(indexed.row(sc).items()), sc
    for t in [*indexed.techniques, "no-such-technique"]:
        assert packed.column(t) == indexed.column(t), t
    for sc in indexed.scenarios:
        for t in [*indexed.techniques, "no-such-technique"]:
            assert packed.get(sc, t) == indexed.get(sc, t), (sc, t)
    asked = [*list(everything)[::3], ("qa-tasks", "nope"), ("nope", "lora")]
    asked += [(sc, t) for sc in list(indexed.scenarios)[:2] for t in indexed.techniques]
    assert list(packed.pick(reversed(asked)).items()) == list(indexed.pick(asked).items())


def test_the_newest_revision_packs_its_cells_and_reads_them_without_a_query(
    client: TestClient, store: SnapshotStore
) -> None:
    fresh = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000)
    snap = fresh.current()
    assert snap.cells.packed is not None
    assert not snap.cells.in_memory  # matrix-wide reads still go to the database
    assert_same_answers(snap.cells, by_index(store, snap.revision))
    assert store.current().cells.packed is not None  # the app's own, loaded before counting
    with statements(store.engine) as seen:
        for target in (
            "/v1/matrix/qa-tasks/lora",
            "/v1/scenarios/qa-tasks/techniques",
            "/v1/techniques/lora/scenarios?support=yes",
        ):
            assert client.get(target).status_code == 200, target
    assert seen == []


def test_no_revision_packs_past_the_limit_and_none_when_packing_is_off(
    store: SnapshotStore,
) -> None:
    cells = len(by_index(store, CURRENT).select())
    assert SnapshotStore(store.engine, hold_limit=0, pack_limit=cells).current().cells.packed
    assert (
        SnapshotStore(store.engine, hold_limit=0, pack_limit=cells - 1).current().cells.packed
        is None
    )
    assert SnapshotStore(store.engine, hold_limit=0).current().cells.packed is None


def test_an_older_revision_read_with_at_is_never_packed(store: SnapshotStore) -> None:
    fresh = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000)
    assert fresh.current().cells.packed is not None
    past = fresh.at(SEED)
    assert past is not None
    assert past.cells.packed is None  # packing it would read the whole catalog for one read


def test_every_kind_of_write_patches_the_packed_cells(
    client: TestClient, store: SnapshotStore, h: Headers
) -> None:
    first = store.current()
    assert first.cells.packed is not None

    def write(
        method: str, path: str, body: dict[str, Any] | None = None, *, cells_only: bool = False
    ) -> Snapshot:
        revision = store.current().revision
        response = client.request(method, path, json=body, headers=h(rev=revision))
        assert response.status_code in (200, 201), response.text
        with statements(store.engine) as seen:
            snap = store.current()
        assert snap.revision == revision + 1
        assert snap.cells.packed is not None
        cell_reads = [q for q in seen if "FROM cell_version" in q]
        if cells_only:
            # Built from the rows the write itself wrote (`SnapshotStore.follow`): none read.
            assert cell_reads == []
            assert snap.changed == Changed(revision, frozenset({Section.CELLS}))
        else:
            assert len(cell_reads) == 1, cell_reads  # what the write changed, not the catalog
            assert "valid_from BETWEEN" in cell_reads[0]
        assert_same_answers(snap.cells, by_index(store, snap.revision))
        loaded = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000).current()
        assert loaded.revision == snap.revision
        for part in ("techniques", "scenarios", "pairs", "entities"):
            assert getattr(snap, part) == getattr(loaded, part), part
        assert (snap.technique_lookup, snap.scenario_lookup) == (
            loaded.technique_lookup,
            loaded.scenario_lookup,
        )
        assert_same_answers(snap.cells, loaded.cells)
        for t in snap.techniques:  # the column written from packed codes, against the model
            for support in ([], [Support.unknown], [Support.yes, Support.partial]):
                model = catalog.technique_column(snap, t, support).model_dump_json().encode()
                assert catalog.technique_column_json(snap, t, support) == model, (t, support)
        return snap

    odd = 'a "note" \\ with é and 🙂'
    changed = write(
        "PUT", "/v1/matrix/qa-tasks/lora", {"support": "no", "note": odd}, cells_only=True
    )
    assert changed.cells.get("qa-tasks", "lora").note == odd  # type: ignore[union-attr]
    cell = {"support": "yes", "note": "", "sources": []}
    write("PUT", "/v1/matrix/qa-tasks/lora", cell, cells_only=True)
    cell = {"support": "partial", "sources": ["https://x.y/ü"]}
    write("PUT", "/v1/matrix/qa-tasks/dora", cell, cells_only=True)
    write("PATCH", "/v1/matrix", {"cells": [
        {"scenario": sc, "technique": t, "support": "unknown", "note": "bulk"}
        for sc in ("qa-tasks", "nlp-tasks") for t in ("lora", "zero-3")
    ]}, cells_only=True)  # fmt: skip
    # A new technique gets a new column; its cells a place in every row they are written to.
    write("POST", "/v1/techniques", {"id": "galore", "name": "GaLore", "category": "other"})
    added = write("PUT", "/v1/matrix/qa-tasks/galore", {"support": "yes"}, cells_only=True)
    assert added.cells.column("galore").keys() == {"qa-tasks"}
    write("POST", "/v1/scenarios", {"id": "tiny-gpu", "title": "A tiny GPU", "kind": "task"})
    write("PUT", "/v1/matrix/tiny-gpu/galore", {"support": "partial"}, cells_only=True)
    # Retiring closes a technique's cells; a revert brings back what it removed.
    retired = write("DELETE", "/v1/techniques/galore")
    assert retired.cells.column("galore") == {}
    assert retired.cells.get("qa-tasks", "galore") is None
    restored = write("POST", f"/v1/revisions/{retired.revision}/revert")
    assert restored.cells.get("tiny-gpu", "galore") is not None
    # A revert that removes a cell written before: the cell reads as never set again.
    removed = write("POST", f"/v1/revisions/{added.revision}/revert", cells_only=True)
    assert removed.cells.get("qa-tasks", "galore") is None
    # The revisions packed earlier still read as they did (their rows were not changed).
    assert_same_answers(first.cells, by_index(store, first.revision))
    assert changed.cells.get("qa-tasks", "lora").note == odd  # type: ignore[union-attr]


def test_packed_cells_give_the_collector_a_few_objects_a_row(store: SnapshotStore) -> None:
    # A full collection walks every tracked object: a row's cells must not be among them. Per
    # row there are two (the row, its array of revisions, which refers to nothing).
    packed = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000).current().cells.packed
    assert packed is not None
    assert any(row.notes for row in packed.rows.values())
    for row in packed.rows.values():
        assert not any(gc.is_tracked(part) for part in (row.codes, row.notes, row.sources))
        assert gc.get_referents(row.since) == [type(row.since)]  # its type, not its items


def test_a_revision_follows_its_packed_predecessor_only_within_the_limits(
    store: SnapshotStore,
) -> None:
    previous = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000).current()
    packed = previous.cells.packed
    assert packed is not None
    never_set = next(
        (sc, t)
        for sc in previous.scenarios.values()
        for t in previous.techniques.values()
        if previous.cells.get(sc.id, t.id) is None
    )
    sc, t = never_set
    row = (sc.key, t.key, "yes", "", "[]", previous.revision + 1, None)
    count = len(packed)

    def follow(revision: int, hold: int = 0, limit: int = 10_000) -> Snapshot | None:
        return followed_snapshot(store.engine, previous, revision, [row], hold, limit)

    followed = follow(previous.revision + 1)
    assert followed is not None
    assert len(followed.cells.packed or ()) == count + 1
    assert followed.cells.get(sc.id, t.id) == CellData(
        sc.id, t.id, "yes", "", (), previous.revision + 1
    )
    assert previous.cells.get(sc.id, t.id) is None  # the previous revision's rows are not changed
    assert follow(previous.revision + 2) is None  # a revision in between is unknown here
    assert follow(previous.revision + 1, limit=count) is None  # past the packing limit
    assert follow(previous.revision + 1, hold=count + 1) is None  # small enough to hold
    unpacked = SnapshotStore(store.engine, hold_limit=0).current()
    assert followed_snapshot(store.engine, unpacked, unpacked.revision + 1, [row]) is None


def test_a_dry_run_or_a_write_of_more_than_cells_is_read_back(
    client: TestClient, store: SnapshotStore, h: Headers
) -> None:
    revision = store.current().revision
    body = {"support": "no", "note": "tried"}
    dry = client.put("/v1/matrix/qa-tasks/lora?dry_run=true", json=body, headers=h(rev=revision))
    assert dry.status_code == 200, dry.text
    assert store.ready(revision + 1) is None
    created = client.post(
        "/v1/techniques",
        json={"id": "galore", "name": "GaLore", "category": "other"},
        headers=h(rev=revision),
    )
    assert created.status_code == 201, created.text
    assert store.ready(revision + 1) is None  # loaded on its first read, not followed
    assert store.current().revision == revision + 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/pairs/fsdp/dora", {"verdict": "compatible"}),
        ("PATCH", "/v1/techniques/lora", {"summary": "A changed summary."}),
        ("DELETE", "/v1/scenarios/qa-tasks", None),
        ("DELETE", "/v1/models/{model}", None),
    ],
)
def test_a_write_of_more_than_cells_is_not_followed(
    client: TestClient,
    store: SnapshotStore,
    h: Headers,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = store.current()
    model = next(iter(before.entities["model"]))
    target = path.format(model=model)
    response = client.request(method, target, json=body, headers=h(rev=before.revision))
    assert response.status_code == 200, response.text
    assert store.ready(before.revision + 1) is None  # read back, on its first read
    with statements(store.engine) as seen:
        snap = store.current()
    assert len(seen) == 1  # the patch read the rows the revisions since changed
    assert_same_answers(snap.cells, by_index(store, snap.revision))


def test_a_revision_already_loaded_or_a_newer_one_is_not_followed(store: SnapshotStore) -> None:
    previous = store.current()
    packed = previous.cells.packed
    assert packed is not None
    assert not store.follow(previous, previous.revision, [])  # already the newest, loaded
    older = SnapshotStore(store.engine, hold_limit=0, pack_limit=10_000).current()
    assert not store.follow(older, previous.revision - 1, [])  # older than the newest
    assert store.current() is previous


def test_a_write_whose_follow_fails_is_still_answered_and_read_back(
    client: TestClient, store: SnapshotStore, h: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    revision = store.current().revision

    def broken(*_: Any) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr("service.snapshot.store.followed_snapshot", broken)
    body = {"support": "no", "note": "still written"}
    written = client.put("/v1/matrix/qa-tasks/lora", json=body, headers=h(rev=revision))
    assert written.status_code == 200, written.text
    assert store.ready(revision + 1) is None
    read = client.get("/v1/matrix/qa-tasks/lora").json()
    assert (read["revision"], read["cell"]["note"]) == (revision + 1, "still written")
