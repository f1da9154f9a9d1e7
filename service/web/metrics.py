"""Request metrics in Prometheus text format (one registry per process).

Each worker process counts its own requests; Prometheus scrapes each replica and sums. The
route label is the route template (`/v1/techniques/{technique_id}`), never the raw path, so
the number of series stays bounded.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict

PENDING_LIMIT = 512
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(**values: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in values.items()) + "}"


class Metrics:
    """Counters and latency histograms by (method, route, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, int], int] = defaultdict(int)
        self._sum: dict[tuple[str, str, int], float] = defaultdict(float)
        self._buckets: dict[tuple[str, str, int], list[int]] = {}
        self._pending: list[tuple[str, str, int, float]] = []

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
        with self._lock:
            self._drain()  # on the event loop thread too (the /metrics route is async)
            keys = sorted(self._count)
            counts = dict(self._count)
            sums = dict(self._sum)
            buckets = {k: list(v) for k, v in self._buckets.items()}
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
        return "\n".join(lines) + "\n"
