"""`SnapshotStore`: the snapshot of the newest revision, and a bounded cache of past ones."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy.engine import Connection, Engine

from service.db import current_revision
from service.snapshot.data import CellRow, Snapshot
from service.snapshot.held import HOLD_LIMIT
from service.snapshot.load import followed_snapshot, load_snapshot

PAST_BYTES = 64 * 1024 * 1024
"""Approximate bytes (held cells and prepared documents, `Snapshot.weight`) that past
snapshots may hold together; the least recently read go first past it."""


class SnapshotStore:
    """Snapshots by revision: the newest one loaded, plus a bounded LRU of past ones.

    `current()` costs one indexed `max(number)` query; a snapshot is loaded only when the revision
    it answers for has not been seen, so every process sees a write by any other process on its
    very next read. `ready(n)` answers from memory alone (no I/O: callable on the event loop).

    A snapshot holds its cells when the revision has at most `hold_limit` of them (see
    `service.snapshot.held`); larger catalogs keep them in the database, so even a million cells
    keep each snapshot as small as its techniques, scenarios and pairs. Past snapshots are
    bounded by count (`past_capacity`) and by size (`past_bytes`).
    """

    def __init__(
        self,
        engine: Engine,
        past_capacity: int = 16,
        hold_limit: int = HOLD_LIMIT,
        past_bytes: int = PAST_BYTES,
        pack_limit: int = 0,
    ) -> None:
        self.engine = engine
        self.past_capacity = past_capacity
        self.hold_limit = hold_limit
        """Most cells a snapshot holds in memory (0: none, every cell read by index)."""
        self.past_bytes = past_bytes
        self.pack_limit = pack_limit
        """Most cells the newest revision of a catalog too large to hold packs (0: none; see
        `service.snapshot.packed`)."""
        self.loads = 0
        """Snapshots loaded from the database, for tests and diagnostics."""
        self._latest: Snapshot | None = None
        self._past: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def latest_revision(self) -> int:
        """The newest revision number in the database."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    def ready(self, revision: int) -> Snapshot | None:
        """The snapshot of `revision` if it is in memory, else None; never reads the database.

        None says nothing about whether the revision exists: ask `at`.
        """
        latest = self._latest
        if latest is not None and latest.revision == revision:
            return latest
        with self._lock:
            found = self._past.get(revision)
            if found is not None:
                self._past.move_to_end(revision)
            return found

    def current(self) -> Snapshot:
        """The snapshot of the newest revision."""
        with self.engine.connect() as conn:
            revision = current_revision(conn)
            return self.ready(revision) or self._load(conn, revision)

    def at(self, revision: int) -> Snapshot | None:
        """The snapshot as of `revision`, or None when that revision does not exist (yet)."""
        found = self.ready(revision)
        if found is not None:
            return found
        with self.engine.connect() as conn:
            if revision < 1 or revision > current_revision(conn):
                return None
            return self._load(conn, revision)

    def _load(self, conn: Connection, revision: int) -> Snapshot:
        # One load at a time: concurrent first reads of a revision (a burst right after a
        # write) load it once. The dictionaries' own lock is never held while loading, so
        # `ready` on the event loop never waits for the database.
        with self._loading:
            found = self.ready(revision)
            if found is not None:
                return found
            self.loads += 1
            latest = self._latest
            snapshot = load_snapshot(
                conn,
                self.engine,
                revision,
                latest,
                self.hold_limit,
                self.pack_limit,
                newest=latest is None or revision > latest.revision,
            )
            with self._lock:
                self._keep(snapshot)
            return snapshot

    def follow(self, previous: Snapshot, revision: int, rows: Sequence[CellRow]) -> bool:
        """Keep the snapshot of `revision`, just committed by this process on top of
        `previous` by writing these cell version rows and nothing else, built from them
        (`followed_snapshot`) rather than read back: a bulk edit's next read, or next write,
        does not re-read the tens of thousands of rows it wrote. Other processes read the
        revision from the database as usual. True when kept; False when the revision is loaded
        already, something newer is, or it must be loaded (see `followed_snapshot`)."""
        with self._loading:
            latest = self._latest
            if self.ready(revision) is not None or (latest and latest.revision > revision):
                return False
            snapshot = followed_snapshot(
                self.engine, previous, revision, rows, self.hold_limit, self.pack_limit
            )
            if snapshot is None:
                return False
            with self._lock:
                self._keep(snapshot)
            return True

    def _keep(self, snapshot: Snapshot) -> None:
        """Remember a loaded snapshot (the lock held): as the newest when it is newer than the
        newest so far, which then joins the past ones (still valid for `at=` reads); else among
        the past ones."""
        latest = self._latest
        if latest is None or snapshot.revision > latest.revision:
            self._latest = snapshot
            if latest is not None:
                self._remember(latest)
        else:
            self._remember(snapshot)

    def _remember(self, snapshot: Snapshot) -> None:
        self._past[snapshot.revision] = snapshot
        self._past.move_to_end(snapshot.revision)
        total = sum(s.weight for s in self._past.values())
        while len(self._past) > self.past_capacity or (total > self.past_bytes and self._past):
            _, dropped = self._past.popitem(last=False)
            total -= dropped.weight
