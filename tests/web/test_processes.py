"""Real server processes: concurrent writers from several processes, graceful shutdown."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from tests.conftest import LiveServer
from tests.helpers import make_key
from tests.published import CURRENT, SCENARIO_IDS


def test_writers_in_several_processes_serialize_without_errors_or_lost_updates(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    key = make_key(database_url, "writer", "write")
    servers = [live_server(), live_server()]
    statuses: list[int] = []
    cells = [
        (scenario, technique) for scenario in SCENARIO_IDS[:5] for technique in ("lora", "dora")
    ]

    def writer(index: int) -> None:
        server = servers[index % 2]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for scenario, technique in cells[index::4]:
                for _ in range(50):  # retry on 412 with a fresh ETag, as a client should
                    etag = http.get("/v1/revisions", params={"limit": 1}).headers["etag"]
                    response = http.put(
                        f"/v1/matrix/{scenario}/{technique}",
                        json={"support": "partial", "note": f"writer {index}"},
                        headers={"Authorization": f"Bearer {key}", "If-Match": etag,
                                 "X-Change-Reason": f"writer {index}"},
                    )  # fmt: skip
                    statuses.append(response.status_code)
                    if response.status_code != 412:
                        break

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(statuses) <= {200, 412}, statuses  # never a 5xx, never "database is locked"
    assert statuses.count(200) == len(cells)
    with httpx.Client(base_url=servers[1].url) as http:
        matrix = http.get("/v1/matrix", params={"support": "partial"}).json()
        assert {(c["scenario"], c["technique"]) for c in matrix["cells"]} == set(cells)
        assert matrix["revision"] == CURRENT + len(cells)


def test_sigterm_finishes_the_request_in_flight(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    key = make_key(database_url, "writer", "write")
    server = live_server()
    first_half_sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b'{"support": "no",'
        first_half_sent.set()
        time.sleep(1.0)  # the server is told to stop while this request is half received
        yield b' "note": "sent across a shutdown"}'

    result: dict[str, httpx.Response] = {}

    def write() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            result["response"] = http.put(
                "/v1/matrix/qa-tasks/lora",
                content=slow_body(),
                headers={"Authorization": f"Bearer {key}", "If-Match": f'"rev-{CURRENT}"',
                         "X-Change-Reason": "shutdown", "Content-Type": "application/json"},
            )  # fmt: skip

    thread = threading.Thread(target=write)
    thread.start()
    assert first_half_sent.wait(10)
    time.sleep(0.2)
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert result["response"].status_code == 200
    assert result["response"].json()["created_revision"] == CURRENT + 1
    # uvicorn finishes the request, shuts down, then re-raises SIGTERM (exit status -15).
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
