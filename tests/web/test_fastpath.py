"""Prepared responses: identical to the application's, and never from an older revision."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import LiveServer
from tests.helpers import Headers, comparable, fast_layer, make_key
from tests.published import CORRECTIONS_REVISION, CURRENT, SEED

PLAN = {"techniques": ["qlora", "zero-3"], "libraries": {"peft": "0.9.0"}}


def test_a_prepared_answer_equals_the_applications(client: TestClient) -> None:
    layer = fast_layer(client)
    for path in ("/v1/matrix", "/v1/matrix?format=markdown", "/v1/techniques/qlora"):
        first = client.get(path)
        assert len(layer.cache) >= 1
        second = client.get(path)
        assert comparable(second) == comparable(first)
        assert second.headers["x-request-id"] != first.headers["x-request-id"]
    csv = client.get("/v1/matrix", headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")  # Accept is part of the key
    checked = [client.post("/v1/checks", json=PLAN) for _ in range(2)]
    assert comparable(checked[0]) == comparable(checked[1])
    other = client.post("/v1/checks", json={"techniques": ["lora"]})
    assert other.json()["findings"] != checked[0].json()["findings"]


def test_304_only_for_reads_that_exist(client: TestClient) -> None:
    etag = f'"rev-{CURRENT}"'
    client.get("/v1/matrix")
    assert client.get("/v1/matrix", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/v1/nothing", headers={"If-None-Match": etag}).status_code == 404
    assert client.get("/v1/techniques/nope", headers={"If-None-Match": etag}).status_code == 404


def test_reads_follow_writes_at_once(client: TestClient, h: Headers) -> None:
    assert client.get("/v1/matrix/qa-tasks/lora").json()["cell"]["support"] == "yes"
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    after = client.get("/v1/matrix/qa-tasks/lora").json()
    assert (after["revision"], after["cell"]["support"]) == (CURRENT + 1, "no")
    old = client.get("/v1/matrix/qa-tasks/lora", params={"at": CURRENT}).json()
    assert old["cell"]["support"] == "yes"


def test_two_processes_agree_right_after_each_write(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    key = make_key(database_url, "writer", "write")
    writer, reader = live_server(), live_server()
    paths = ["/v1/matrix/qa-tasks/lora", "/v1/matrix", "/v1/scenarios/qa-tasks/techniques"]
    with httpx.Client(base_url=writer.url) as a, httpx.Client(base_url=reader.url) as b:
        for path in paths:  # warm the reader's prepared answers
            b.get(path)
        for i, support in enumerate(["no", "partial", "yes", "no", "partial"] * 4):
            revision = CURRENT + i
            ack = a.put(
                "/v1/matrix/qa-tasks/lora",
                json={"support": support},
                headers={"Authorization": f"Bearer {key}", "X-Change-Reason": "race",
                         "If-Match": f'"rev-{revision}"'},
            )  # fmt: skip
            assert ack.status_code == 200, ack.text
            cell = b.get("/v1/matrix/qa-tasks/lora").json()
            assert (cell["revision"], cell["cell"]["support"]) == (revision + 1, support)
            whole = b.get("/v1/matrix").json()
            assert whole["revision"] == revision + 1
            row = b.get("/v1/scenarios/qa-tasks/techniques").json()
            assert (
                next(i for i in row["items"] if i["technique"]["id"] == "lora")["support"]
                == support
            )


def test_workers_on_one_port_never_serve_an_older_revision(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    key = make_key(database_url, "writer", "write")
    server = live_server(workers=2)
    stale: list[str] = []
    stop = threading.Event()

    def poll(floor: list[int]) -> None:
        with httpx.Client(base_url=server.url) as http:
            while not stop.is_set():
                seen_floor = floor[0]  # read before the request: any answer must be at least this
                revision = http.get("/v1/matrix/qa-tasks/lora").json()["revision"]
                if revision < seen_floor:
                    stale.append(f"{revision} < {seen_floor}")

    floor = [CURRENT]
    pollers = [threading.Thread(target=poll, args=(floor,)) for _ in range(4)]
    for t in pollers:
        t.start()
    try:
        with httpx.Client(base_url=server.url) as http:
            for i in range(15):
                revision = CURRENT + i
                ack = http.put(
                    "/v1/matrix/qa-tasks/lora",
                    json={"support": ["no", "yes", "partial"][i % 3]},
                    headers={"Authorization": f"Bearer {key}", "X-Change-Reason": "poll",
                             "If-Match": f'"rev-{revision}"'},
                )  # fmt: skip
                assert ack.status_code == 200, ack.text
                floor[0] = revision + 1  # acknowledged: no read may go below it from now on
    finally:
        stop.set()
        for t in pollers:
            t.join(timeout=30)
    assert stale == []


def test_every_read_without_at_is_prepared_once(client: TestClient) -> None:
    layer = fast_layer(client)
    paths = [
        "/v1/matrix?format=markdown",
        "/v1/matrix?format=csv",
        "/v1/recommendations?scenario=reduce-memory&scenario=qa-tasks",
        "/v1/techniques?limit=2",
    ]
    for path in paths:
        client.get(path)
    assert {key[1] + "?" + key[2].decode() for key in layer.cache} == set(paths)
    client.get(f"/v1/matrix?format=markdown&at={SEED}")
    client.get(f"/v1/matrix?at={CORRECTIONS_REVISION}")
    assert len(layer.cache) == len(paths)  # time travel is left to the application


def test_an_answer_too_large_to_keep_passes_through_uncopied(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.web import fastpath, routing

    layer = fast_layer(client)
    whole = client.get("/v1/matrix?format=csv").content
    layer.cache.clear()
    monkeypatch.setattr(fastpath, "MAX_ENTRY_BYTES", len(whole) - 1)
    monkeypatch.setattr(routing, "STREAM_AFTER_BYTES", 100)  # streamed, in several parts
    for _ in range(2):
        response = client.get("/v1/matrix?format=csv")
        assert response.content == whole
        assert "content-length" not in response.headers
    assert not layer.cache
    monkeypatch.setattr(fastpath, "MAX_ENTRY_BYTES", len(whole))
    assert client.get("/v1/matrix?format=csv").content == whole
    [kept] = layer.cache.values()
    assert kept.body == whole


def test_a_check_at_a_past_revision_is_not_the_newest_check(client: TestClient) -> None:
    # The same body to /v1/checks and to /v1/checks?at=N are different questions: a prepared
    # answer of the first must never answer the second.
    body = {"techniques": ["lora", "deepspeed"]}
    newest = client.post("/v1/checks", json=body)
    assert newest.status_code == 200, newest.text
    assert newest.json()["revision"] == CURRENT
    past = client.post(f"/v1/checks?at={SEED}", json=body)
    assert past.status_code == 200, past.text
    assert past.json()["revision"] == SEED
    assert past.headers["x-revision"] == str(SEED)
    assert past.headers["cache-control"] != newest.headers["cache-control"]
    again = client.post("/v1/checks", json=body)
    assert again.json()["revision"] == CURRENT
