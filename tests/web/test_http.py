"""Cross-cutting HTTP behaviour: ETags and 304, problem+json for every error."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.published import CURRENT, SEED

READS = [
    "/v1/techniques",
    "/v1/techniques/lora",
    "/v1/techniques/lora/scenarios",
    "/v1/scenarios",
    "/v1/scenarios/qa-tasks",
    "/v1/scenarios/qa-tasks/techniques",
    "/v1/matrix",
    "/v1/matrix?format=csv",
    "/v1/matrix?format=markdown",
    "/v1/matrix/qa-tasks/lora",
    "/v1/recommendations?scenario=qa-tasks",
    "/v1/revisions",
]


def variant(path: str) -> str:
    """The ETag suffix of the representation `path` asks for (none for JSON)."""
    found = re.search(r"format=(csv|markdown)", path)
    return f"-{found.group(1)}" if found else ""


@pytest.mark.parametrize("path", READS)
def test_every_read_names_its_revision_and_answers_304(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    etag = f'"rev-{CURRENT}{variant(path)}"'
    assert response.headers["etag"] == etag
    if response.headers["content-type"] == "application/json":
        assert response.json()["revision"] == CURRENT
    cached = client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    stale = client.get(path, headers={"If-None-Match": f'"rev-{SEED}"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("path", READS)
def test_every_read_takes_at(client: TestClient, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    response = client.get(f"{path}{joiner}at={SEED}")
    assert response.status_code == 200
    assert response.headers["etag"] == f'"rev-{SEED}{variant(path)}"'
    missing = client.get(f"{path}{joiner}at={CURRENT + 1}")
    assert missing.status_code == 404
    assert missing.json()["latest_revision"] == CURRENT


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")
    response = client.delete("/v1/revisions")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
