"""The typed client: problems as ApiError, retries only where a repeat cannot do harm."""

from __future__ import annotations

import httpx
import pytest

from service.client import ApiError, Client

PROBLEM = {"type": "x", "title": "Not found", "status": 404, "detail": "No technique 'x'."}


def scripted(*answers: int | Exception) -> tuple[Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer >= 400:
            return httpx.Response(answer, json=PROBLEM | {"status": answer})
        return httpx.Response(answer, json={"revision": 3, "verdict": "pass", "findings": []})

    client = Client(
        "http://ftm.test", api_key="k", backoff=0, transport=httpx.MockTransport(handler)
    )
    return client, seen


def test_reads_are_retried_on_transient_failures() -> None:
    client, seen = scripted(503, httpx.ConnectError("refused"), 200)
    assert client.get("/v1/matrix") == {"revision": 3, "verdict": "pass", "findings": []}
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer k"


def test_checks_are_retried_because_they_only_read() -> None:
    client, seen = scripted(502, 200)
    report = client.check({"techniques": ["qlora"]})
    assert (report.verdict, report.revision, len(seen)) == ("pass", 3, 2)


def test_writes_are_never_retried() -> None:
    client, seen = scripted(503, 200)
    with pytest.raises(ApiError) as caught:
        client.request("PUT", "/v1/matrix/qa-tasks/lora", json={"support": "no"})
    assert caught.value.status == 503
    assert len(seen) == 1


def test_errors_carry_the_problem_and_give_up_after_the_retries() -> None:
    client, _ = scripted(404)
    with pytest.raises(ApiError) as caught:
        client.technique("x")
    assert caught.value.problem["detail"] == "No technique 'x'."
    client, seen = scripted(503, 503, 503, 503)
    with pytest.raises(ApiError):
        client.get("/v1/matrix")
    assert len(seen) == 4  # one try and three retries
    client, seen = scripted(*[httpx.ConnectError("down")] * 4)
    with pytest.raises(httpx.ConnectError):
        client.get("/v1/matrix")
    assert len(seen) == 4


def test_timeouts_are_set() -> None:
    client = Client("http://ftm.test", timeout=2.5)
    timeout = client._http.timeout
    assert (timeout.read, timeout.connect) == (2.5, 2.5)
    client.close()
