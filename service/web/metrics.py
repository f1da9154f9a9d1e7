"""Request metrics in Prometheus text format, added up across the worker processes.

Each worker counts its own requests in memory (a cached read must stay cheap), and writes its
running totals to a file of its own in a directory the workers share (`FTM_METRICS_DIR`, which
`ftmatrix serve` sets for its workers): at every scrape, twice a second, and when it stops. A
scrape, whichever worker answers it, adds up every worker's file, so counters of one port never
go backwards between scrapes, however many workers serve it (the file of a worker that has
exited keeps counting what it answered). The route label is the route template
(`/v1/techniques/{technique_id}`), never the raw path, so the number of series stays bounded.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import Any

PENDING_LIMIT = 512
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(**values: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in values.items()) + "}"


Key = tuple[str, str, int]
FLUSH_EVERY_S = 0.5
STARTED = time.time()


class Metrics:
    """Counters and latency histograms by (method, route, status), shared through `directory`
    (None: this process alone)."""

    def __init__(self, directory: Path | None = None, version: str = "") -> None:
        self._lock = threading.Lock()
        self._count: dict[Key, int] = defaultdict(int)
        self._sum: dict[Key, float] = defaultdict(float)
        self._buckets: dict[Key, list[int]] = {}
        self._pending: list[tuple[str, str, int, float]] = []
        self.directory = directory
        self.version = version
        self._written = -1

    def flush(self) -> None:
        """Write this process's running totals to its file (when anything changed)."""
        if self.directory is None:
            return
        with self._lock:
            self._drain()
            total = sum(self._count.values())
            if total == self._written:
                return
            state = {
                "count": [[*k, v] for k, v in self._count.items()],
                "sum": [[*k, v] for k, v in self._sum.items()],
                "buckets": [[*k, v] for k, v in self._buckets.items()],
            }
            self._written = total
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(state), encoding="utf-8")
        partial.replace(path)  # atomic: a scrape never reads half a file

    def _totals(self) -> tuple[dict[Key, int], dict[Key, float], dict[Key, list[int]]]:
        """Every worker's totals added up (this process's own, when there is no directory)."""
        if self.directory is None:
            with self._lock:
                self._drain()
                return (
                    dict(self._count),
                    dict(self._sum),
                    {k: list(v) for k, v in self._buckets.items()},
                )
        self.flush()
        counts: dict[Key, int] = defaultdict(int)
        sums: dict[Key, float] = defaultdict(float)
        buckets: dict[Key, list[int]] = {}
        for path in sorted(self.directory.glob("*.json")):
            try:
                state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being replaced right now: its previous totals are in the new file
            for method, route, status, value in state["count"]:
                counts[method, route, status] += value
            for method, route, status, value in state["sum"]:
                sums[method, route, status] += value
            for method, route, status, value in state["buckets"]:
                into = buckets.setdefault((method, route, status), [0] * (len(BUCKETS) + 1))
                for i, hits in enumerate(value):
                    into[i] += hits
        return counts, sums, buckets

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answer. Called on the event loop thread only (middleware and fast path),
        so no lock; it only queues the observation, which `_drain` adds up PENDING_LIMIT at a
        time (one tight loop costs less per request than a dictionary update between two)."""
        pending = self._pending
        pending.append((method, route, status, seconds))
        if len(pending) >= PENDING_LIMIT:
            self._drain()

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        count, total, all_buckets = self._count, self._sum, self._buckets
        for method, route, status, seconds in pending:
            key = (method, route, status)
            count[key] += 1
            total[key] += seconds
            buckets = all_buckets.get(key)
            if buckets is None:
                buckets = all_buckets[key] = [0] * (len(BUCKETS) + 1)
            buckets[bisect_left(BUCKETS, seconds)] += 1

    def render(self, revision: int | None) -> str:
        """The Prometheus text exposition (version 0.0.4) of everything observed.

        Call it on the event loop thread, as `observe` is: it adds up the queued observations.
        """
        lines = [
            "# HELP ftmatrix_requests_total HTTP requests answered, by route and status.",
            "# TYPE ftmatrix_requests_total counter",
        ]
        counts, sums, buckets = self._totals()
        keys = sorted(counts)
        for method, route, status in keys:
            labels = _labels(method=method, route=route, status=str(status))
            lines.append(f"ftmatrix_requests_total{labels} {counts[method, route, status]}")
        lines += [
            "# HELP ftmatrix_request_duration_seconds Time to answer, by route and status.",
            "# TYPE ftmatrix_request_duration_seconds histogram",
        ]
        for key in keys:
            method, route, status = key
            cumulative = 0
            for bound, hits in zip((*BUCKETS, float("inf")), buckets[key], strict=True):
                cumulative += hits
                le = "+Inf" if bound == float("inf") else repr(bound)
                labels = _labels(method=method, route=route, status=str(status), le=le)
                lines.append(f"ftmatrix_request_duration_seconds_bucket{labels} {cumulative}")
            labels = _labels(method=method, route=route, status=str(status))
            lines.append(f"ftmatrix_request_duration_seconds_sum{labels} {sums[key]:.6f}")
            lines.append(f"ftmatrix_request_duration_seconds_count{labels} {counts[key]}")
        if revision is not None:
            lines += [
                "# HELP ftmatrix_revision The newest data revision.",
                "# TYPE ftmatrix_revision gauge",
                f"ftmatrix_revision {revision}",
            ]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        lines += [
            "# HELP ftmatrix_build_info The running version.",
            "# TYPE ftmatrix_build_info gauge",
            f"ftmatrix_build_info{_labels(version=self.version)} 1",
            "# HELP process_cpu_seconds_total CPU time of the process that answered this scrape.",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {usage.ru_utime + usage.ru_stime:.6f}",
            "# HELP process_resident_memory_max_bytes Peak resident memory of that process.",
            "# TYPE process_resident_memory_max_bytes gauge",
            f"process_resident_memory_max_bytes {usage.ru_maxrss * 1024}",
            "# HELP process_start_time_seconds Start of that process, in seconds since the epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {STARTED:.3f}",
        ]
        return "\n".join(lines) + "\n"
