"""The snapshot store: what it answers from memory, what it keeps, and what it lets go."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.snapshot import SnapshotStore
from tests.helpers import Headers, statements
from tests.published import CURRENT, SEED


def store_of(client: TestClient) -> SnapshotStore:
    store: SnapshotStore = client.app.state.store  # type: ignore[attr-defined]
    return store


def fresh_store(client: TestClient, **options: Any) -> SnapshotStore:
    return SnapshotStore(store_of(client).engine, **options)


def test_ready_answers_from_memory_or_not_at_all(client: TestClient) -> None:
    store = fresh_store(client)
    with statements(store.engine, "") as seen:
        assert store.ready(CURRENT) is None  # never loaded: the caller loads it (elsewhere)
        assert store.ready(CURRENT + 100) is None
    assert seen == []
    current = store.current()
    past = store.at(SEED)
    with statements(store.engine, "") as seen:
        assert store.ready(CURRENT) is current
        assert store.ready(SEED) is past
    assert seen == []  # no query at all: callable on the event loop


def test_a_revision_is_loaded_once_and_the_one_it_replaces_stays(
    client: TestClient, h: Headers
) -> None:
    store = store_of(client)
    before = store.current()
    loads = store.loads
    assert store.at(CURRENT) is before
    assert store.loads == loads
    assert client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h()).is_success
    after = store.current()
    assert after.revision == CURRENT + 1
    assert store.loads == loads + 1
    # The snapshot that was newest joins the past ones: `at=` reads of it load nothing.
    assert store.ready(CURRENT) is before
    assert store.at(CURRENT) is before
    assert store.loads == loads + 1
    assert store.at(CURRENT + 2) is None  # not written yet
    assert store.at(0) is None


def test_an_at_read_of_a_newer_revision_makes_it_the_newest(client: TestClient, h: Headers) -> None:
    store = store_of(client)
    old = store.current()
    assert client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h()).is_success
    newer = store.at(CURRENT + 1)
    assert newer is not None
    # Loaded from the older snapshot (patched, not read in full) and kept as the newest.
    assert newer.techniques is old.techniques
    assert store.current() is newer


def test_past_snapshots_are_bounded_by_count(client: TestClient) -> None:
    store = fresh_store(client, past_capacity=2)
    store.current()
    for revision in range(1, CURRENT):
        assert store.at(revision) is not None
    kept = [r for r in range(1, CURRENT) if store.ready(r) is not None]
    assert kept == [CURRENT - 2, CURRENT - 1]  # the two read last
    assert store.ready(CURRENT) is not None  # the newest is always kept


def test_past_snapshots_are_bounded_by_size(client: TestClient) -> None:
    one = fresh_store(client).at(SEED)
    assert one is not None
    assert one.weight > 0  # the seed's cells are held
    store = fresh_store(client, past_bytes=one.weight * 2 + 1)
    store.current()
    for revision in (1, 2, 3, 4):
        assert store.at(revision) is not None
    kept = [r for r in (1, 2, 3, 4) if store.ready(r) is not None]
    assert 4 in kept  # the one read last
    assert len(kept) < 4
    weights = [snap.weight for snap in (store.ready(r) for r in kept) if snap is not None]
    assert sum(weights) <= store.past_bytes


def test_a_snapshot_with_no_cells_held_still_patches_its_entities(client: TestClient) -> None:
    store = fresh_store(client, hold_limit=0)
    with statements(store.engine) as seen:
        snap = store.current()
    assert snap.cells.held is None
    assert seen == []  # a catalog read by index costs its snapshot no cell query
    with statements(store.engine) as seen:
        assert snap.cells.select()
    assert len(seen) == 1  # read from the database on demand


def test_the_count_that_decides_holding_is_bounded(client: TestClient) -> None:
    store = fresh_store(client, hold_limit=5)
    with statements(store.engine) as seen:
        snap = store.current()
    assert snap.cells.held is None
    counts = [q for q in seen if "count(" in q.lower()]
    assert len(counts) == 1
    assert "LIMIT" in counts[0].upper()  # a walk over at most hold_limit + 1 cells
