"""Writers that keep writing cells through the API while wrk reads (`bench/run.py`, `writes`).

Each writer is a thread with its own keep-alive connection and its own cell, written over and
over the way a client of the API writes (README.md, "Curating"): an admin key, a reason, and
`If-Match` with the ETag of its last answer. Even writers `PUT /v1/matrix/{scenario}/{technique}`,
odd ones `PATCH /v1/matrix` with a one-cell JSON body. Every write changes the cell's note (and
flips its support), so each one accepted is a new revision, which every reader then sees. A 412
(another writer's revision landed first) is answered by writing again with the ETag the 412
names, as a client must; it is counted, not treated as an error.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

REQUEST_TIMEOUT_S = 30.0
BACKOFF_S = 0.05  # after an error, so that a failing service is not hammered in a tight loop
SUPPORTS = ("partial", "yes")
SOURCE = "bench:reads-during-writes"


@dataclass
class WriterCounts:
    """What the writers did so far (summed over all of them)."""

    at: float
    accepted: int = 0
    conflicts: int = 0
    errors: int = 0


@dataclass(frozen=True)
class WriteWindow:
    """What the writers did while the readers were measured."""

    writers: int
    seconds: float
    accepted: int
    conflicts: int
    errors: int
    first_error: str
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


class _Writer(threading.Thread):
    def __init__(self, index: int, port: int, key: str, cell: tuple[str, str], etag: str) -> None:
        super().__init__(name=f"bench-writer-{index}", daemon=True)
        self.index = index
        self.port = port
        self.key = key
        self.cell = cell
        self.etag = etag
        self.stop_event = threading.Event()
        self.accepted = self.conflicts = self.errors = 0
        self.first_error = ""
        self.done: list[tuple[float, float]] = []  # (finished at, milliseconds) of accepted writes

    def request(self, n: int) -> tuple[str, str, bytes]:
        scenario, technique = self.cell
        cell = {
            "support": SUPPORTS[n % len(SUPPORTS)],
            "note": f"written by bench/run.py, writer {self.index}, write {n}",
            "sources": [SOURCE],
        }
        if self.index % 2 == 0:
            return "PUT", f"/v1/matrix/{scenario}/{technique}", json.dumps(cell).encode()
        body = {"cells": [{"scenario": scenario, "technique": technique, **cell}]}
        return "PATCH", "/v1/matrix", json.dumps(body).encode()

    def fail(self, what: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"writer {self.index}: {what}"
        self.stop_event.wait(BACKOFF_S)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        n = 0
        try:
            while not self.stop_event.is_set():
                method, target, body = self.request(n)
                headers = {
                    "Authorization": f"Bearer {self.key}",
                    "If-Match": self.etag,
                    "X-Change-Reason": f"bench/run.py: reads during writes, writer {self.index}",
                    "Content-Type": "application/json",
                }
                started = time.perf_counter()
                try:
                    conn.request(method, target, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()  # reconnects on the next request
                    self.fail(f"{method} {target}: {exc!r}")
                    continue
                finished = time.perf_counter()
                if response.status == 200:
                    self.etag = response.getheader("etag") or self.etag
                    self.accepted += 1
                    self.done.append((finished, (finished - started) * 1000))
                    n += 1
                elif response.status == 412:
                    self.conflicts += 1
                    self.etag = _current_etag(data) or self.etag
                else:
                    self.fail(f"{method} {target} answered {response.status}: {data[:300]!r}")
        finally:
            conn.close()


def _current_etag(problem: bytes) -> str | None:
    try:
        value = json.loads(problem).get("current_etag")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Writers:
    """`len(cells)` writer threads against the service on `port`; use as a context manager."""

    def __init__(self, port: int, key: str, cells: Sequence[tuple[str, str]], etag: str) -> None:
        self.threads = [_Writer(i, port, key, cell, etag) for i, cell in enumerate(cells)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self.threads:
            thread.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)

    def counts(self) -> WriterCounts:
        """A snapshot of the totals so far (ints read under the GIL: each is consistent)."""
        now = time.perf_counter()
        counts = WriterCounts(now)
        for t in self.threads:
            counts.accepted += t.accepted
            counts.conflicts += t.conflicts
            counts.errors += t.errors
        return counts

    def window(self, before: WriterCounts, after: WriterCounts) -> WriteWindow:
        """What the writers did between two snapshots."""
        latencies = [
            ms for t in self.threads for at, ms in list(t.done) if before.at <= at <= after.at
        ]
        first = next((t.first_error for t in self.threads if t.first_error), "")
        return WriteWindow(
            writers=len(self.threads),
            seconds=after.at - before.at,
            accepted=after.accepted - before.accepted,
            conflicts=after.conflicts - before.conflicts,
            errors=after.errors - before.errors,
            first_error=first,
            p50_ms=_percentile(latencies, 0.5),
            p99_ms=_percentile(latencies, 0.99),
        )

    def alive(self) -> int:
        return sum(t.is_alive() for t in self.threads)
