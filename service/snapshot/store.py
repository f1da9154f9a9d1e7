"""`SnapshotStore`: the snapshot of the newest revision, and a bounded cache of past ones."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.engine import Engine

from service.db import current_revision
from service.snapshot.data import Snapshot
from service.snapshot.load import load_snapshot


class SnapshotStore:
    """Snapshots by revision: the current one plus a bounded LRU of past ones.

    `current()` costs one indexed `max(number)` query; a snapshot is loaded only when the revision
    it answers for has not been seen, so every process sees a write by any other process on its
    very next read. A snapshot holds no cells, so even a catalog of a million cells keeps each
    snapshot as small as its techniques, scenarios and pairs.
    """

    def __init__(self, engine: Engine, past_capacity: int = 16) -> None:
        self.engine = engine
        self.past_capacity = past_capacity
        self._latest: Snapshot | None = None
        self._past: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def latest_revision(self) -> int:
        """The newest revision number in the database."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    def current(self) -> Snapshot:
        """The snapshot of the newest revision."""
        with self.engine.connect() as conn:
            revision = current_revision(conn)
            latest = self._latest
            if latest is not None and latest.revision == revision:
                return latest
            with self._lock:
                latest = self._latest
                if latest is not None and latest.revision == revision:
                    return latest
                snapshot = load_snapshot(conn, self.engine, revision, previous=latest)
                self._latest = snapshot
                return snapshot

    def at(self, revision: int) -> Snapshot | None:
        """The snapshot as of `revision`, or None when that revision does not exist (yet)."""
        latest = self._latest
        if latest is not None and latest.revision == revision:
            return latest
        with self._lock:
            cached = self._past.get(revision)
            if cached is not None:
                self._past.move_to_end(revision)
                return cached
        with self.engine.connect() as conn:
            if revision < 1 or revision > current_revision(conn):
                return None
            snapshot = load_snapshot(conn, self.engine, revision, previous=self._latest)
        with self._lock:
            self._past[revision] = snapshot
            while len(self._past) > self.past_capacity:
                self._past.popitem(last=False)
        return snapshot
