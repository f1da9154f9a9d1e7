"""The cyclic garbage collector after startup: the process's startup objects frozen, and full
collections rare enough that a bulk edit's many live objects do not trigger one after another
(`service.app.GC_THRESHOLDS`)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import GC_THRESHOLDS

CPYTHON_THRESHOLDS = (700, 10, 10)

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 14),
    reason="CPython 3.14's incremental collector has no third threshold",
)


@contextmanager
def full_collections() -> Iterator[list[int]]:
    """The full collections that run inside the block (one entry each)."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)


def live_edit_objects(thresholds: tuple[int, int, int]) -> int:
    """Full collections while 240,000 containers are built and kept alive, about what a
    20,000-cell bulk edit allocates and keeps (its edits, cells and diff records) until its
    answer is sent."""
    before = gc.get_threshold()
    # As in the app after its first full collection: what is alive now is frozen (whatever
    # earlier tests left), and the collection after the freeze finds nothing else alive.
    gc.collect()
    gc.freeze()
    gc.collect()
    gc.set_threshold(*thresholds)
    try:
        with full_collections() as seen:
            kept = [{"support": "yes", "sources": [str(i)]} for i in range(120_000)]
            del kept
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()  # back to the oldest generation; the next app's startup freezes again
    return len(seen)


def test_the_app_freezes_its_startup_objects_and_sets_its_thresholds(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLDS


def test_a_bulk_edits_live_objects_trigger_at_most_one_full_collection() -> None:
    assert live_edit_objects(CPYTHON_THRESHOLDS) >= 2  # the reason for the setting
    assert live_edit_objects(GC_THRESHOLDS) <= 1
