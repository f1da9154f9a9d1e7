"""Metrics that add up across workers: with two workers on one port, every scrape after the
traffic shows the same totals, and they never go backwards (read by prometheus-client's own
parser, the reader Prometheus itself shares its format with)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer


def _requests_total(text: str) -> tuple[float, dict[str, float]]:
    total = 0.0
    others: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ftmatrix_requests_total" and sample.labels["route"] != "/metrics":
                total += sample.value
            elif sample.name in ("ftmatrix_revision", "ftmatrix_build_info"):
                others[sample.name] = sample.value
    return total, others


def test_two_workers_report_the_same_totals_on_every_scrape(
    live_server: Callable[..., LiveServer],
) -> None:
    server: Any = live_server(workers=2)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before, _ = _requests_total(client.get("/metrics").text)
        for i in range(200):
            path = "/v1/techniques" if i % 2 else "/v1/matrix/qa-tasks/lora"
            assert client.get(path, headers={"Connection": "close"}).status_code == 200
        time.sleep(1.5)  # longer than the workers' flush period (FLUSH_EVERY_S)
        seen = []
        for _ in range(10):
            text = client.get("/metrics", headers={"Connection": "close"}).text
            total, others = _requests_total(text)
            seen.append(total)
            assert others["ftmatrix_build_info"] == 1
            assert others["ftmatrix_revision"] >= 1
    assert seen == [seen[0]] * 10, seen
    # The live server's readiness probes and the earlier scrape count too: at least our 200.
    assert seen[0] - before >= 200
