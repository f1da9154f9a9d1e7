"""Ten writers from the same revision against a real server: one wins, nine get 412."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer
from tests.helpers import make_key
from tests.published import CURRENT


def test_ten_writers_from_the_same_revision(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    key = make_key(database_url, "racer", "write")
    server = live_server()
    barrier = threading.Barrier(10)
    results: dict[int, httpx.Response] = {}

    def write(i: int) -> None:
        technique = ["lora", "qlora", "peft", "deepspeed", "zero"][i % 5]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            barrier.wait()
            results[i] = http.put(
                f"/v1/matrix/qa-tasks/{technique}",
                json={"support": "partial", "note": f"writer {i}"},
                headers={
                    "Authorization": f"Bearer {key}",
                    "X-Change-Reason": f"writer {i}",
                    "If-Match": f'"rev-{CURRENT}"',
                },
            )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200] + [412] * 9, [r.text for r in results.values()]
    [winner] = [i for i, r in results.items() if r.status_code == 200]
    for r in results.values():
        if r.status_code == 412:
            assert r.json()["current_revision"] == CURRENT + 1
    with httpx.Client(base_url=server.url) as http:
        revisions = http.get("/v1/revisions").json()
        assert [r["number"] for r in revisions["items"]] == list(range(CURRENT + 1, 0, -1))
        assert revisions["items"][0]["reason"] == f"writer {winner}"
        notes = [
            c["note"] for c in http.get("/v1/matrix", params={"support": "partial"}).json()["cells"]
        ]
        assert notes == [f"writer {winner}"]
