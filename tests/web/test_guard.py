"""Failures answered, not leaked: oversized headers (431), an unmigrated database (503 on every
route, the fast path included), logs without uvicorn's ANSI copy, forwarded headers ignored
unless a proxy is trusted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import cli
from service.app import create_app
from service.config import Settings
from service.web.logs import JsonFormatter


@pytest.fixture
def unmigrated(empty_database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=empty_database_url))) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/matrix"),  # the fast path's revision check meets it first
        ("GET", "/v1/techniques/lora?at=1"),  # FastAPI's own path
        ("POST", "/v1/checks"),
        ("PUT", "/v1/matrix/qa-tasks/lora"),
    ],
)
def test_an_unmigrated_database_is_a_503_problem_with_a_request_id(
    unmigrated: TestClient, method: str, path: str
) -> None:
    body = {"techniques": ["lora", "zero-2"]} if method == "POST" else {"support": "yes"}
    response = unmigrated.request(
        method,
        path,
        json=body,
        # A well-formed key, so that the write reaches the database to look it up.
        headers={
            "X-Request-ID": "probe-1",
            "If-Match": '"rev-1"',
            "Authorization": f"Bearer ftm_{'0' * 12}_{'a' * 43}",
            "X-Change-Reason": "probe",
        },
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"].isdigit()
    assert response.headers["x-request-id"] == "probe-1"
    problem = response.json()
    assert problem["reason"] == "unmigrated"
    assert "ftmatrix db upgrade" in problem["detail"]
    assert "SELECT" not in response.text  # no SQL in the answer


def test_readyz_says_the_database_is_unmigrated(unmigrated: TestClient) -> None:
    response = unmigrated.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "unmigrated"
    assert "retry-after" in response.headers


def test_headers_over_the_limit_are_a_431(client: TestClient) -> None:
    big = {f"x-filler-{i}": "a" * 8000 for i in range(9)}  # 72 KB of headers
    response = client.get("/v1/matrix", headers=big)
    assert response.status_code == 431
    assert response.json()["max_bytes"] == 64 * 1024
    assert client.get("/v1/matrix", headers={"x-small": "a" * 1000}).status_code == 200


def test_json_logs_drop_uvicorns_coloured_copy() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started", (), None)
    record.color_message = "\x1b[32mStarted\x1b[0m"
    line = json.loads(JsonFormatter().format(record))
    assert "color_message" not in line
    assert line["msg"] == "Started"


def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FTM_METRICS_DIR", str(tmp_path))  # else serve makes one for its workers
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "uvicorn", type(sys)("uvicorn"))
    sys.modules["uvicorn"].run = lambda *a, **kw: seen.update(kw)  # type: ignore[attr-defined]
    monkeypatch.setattr(cli, "get_settings", lambda: Settings())
    assert cli.main(["serve", "--port", "1"]) == 0
    assert seen["proxy_headers"] is False
    assert seen["timeout_keep_alive"] == 5
    trusted = Settings(trusted_proxies="10.0.0.1", limit_concurrency=200)
    monkeypatch.setattr(cli, "get_settings", lambda: trusted)
    assert cli.main(["serve", "--port", "1"]) == 0
    assert (seen["proxy_headers"], seen["forwarded_allow_ips"]) == (True, "10.0.0.1")
    assert seen["limit_concurrency"] == 200
