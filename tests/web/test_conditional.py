"""HTTP by the book (RFC 9110, 9111, 8288): HEAD, ETags per representation, If-Match, 304
headers, Cache-Control, Allow, Location and Link."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers


def newest(client: TestClient) -> int:
    return int(client.get("/v1/matrix").headers["x-revision"])


GETS = [
    "/v1/techniques",
    "/v1/techniques/lora",
    "/v1/matrix",
    "/v1/matrix?format=csv",
    "/v1/matrix/qa-tasks/lora",
    "/v1/revisions",
    "/v1/pairs",
    "/v1/techniques?at=1",
    "/healthz",
]


@pytest.mark.parametrize("path", GETS)
def test_head_answers_what_get_would_without_a_body(client: TestClient, path: str) -> None:
    for _ in range(2):  # the second HEAD is a fast-path hit for the cacheable reads
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == 200 == got.status_code
        assert head.content == b""
        for name in ("etag", "content-type", "content-length", "cache-control", "x-revision"):
            assert head.headers.get(name) == got.headers.get(name), name


def test_each_representation_has_its_own_strong_etag(client: TestClient) -> None:
    as_json = client.get("/v1/matrix")
    as_csv = client.get("/v1/matrix?format=csv")
    as_md = client.get("/v1/matrix", headers={"Accept": "text/markdown"})
    tags = {r.headers["etag"] for r in (as_json, as_csv, as_md)}
    assert len(tags) == 3
    assert all(not tag.startswith("W/") for tag in tags)
    assert as_json.headers["etag"] == f'"rev-{newest(client)}"'
    # The JSON tag does not validate the CSV representation, and the other way round.
    other = client.get("/v1/matrix?format=csv", headers={"If-None-Match": as_json.headers["etag"]})
    assert other.status_code == 200
    same = client.get("/v1/matrix?format=csv", headers={"If-None-Match": as_csv.headers["etag"]})
    assert same.status_code == 304


@pytest.mark.parametrize("path", ["/v1/matrix", "/v1/techniques/lora", "/v1/matrix?at=2"])
def test_a_304_carries_what_the_200_would(client: TestClient, path: str) -> None:
    full = client.get(path)
    for _ in range(2):  # uncached, then cached
        cached = client.get(path, headers={"If-None-Match": full.headers["etag"]})
        assert cached.status_code == 304
        assert cached.content == b""
        for name in ("etag", "cache-control", "vary", "x-revision"):
            assert cached.headers.get(name) == full.headers.get(name), name


def test_current_reads_revalidate_and_past_revisions_are_immutable(client: TestClient) -> None:
    assert client.get("/v1/matrix").headers["cache-control"] == "no-cache"
    past = client.get("/v1/matrix?at=1").headers["cache-control"]
    assert past == "public, max-age=31536000, immutable"


def _put(client: TestClient, h: Headers, if_match: str | None) -> int:
    headers = h(rev=None)
    current = newest(client)
    if_match = if_match.replace("CURRENT", str(current)) if if_match else if_match
    if if_match is not None:
        headers["If-Match"] = if_match
    response = client.put(
        "/v1/matrix/qa-tasks/lora", json={"support": "partial", "note": "n"}, headers=headers
    )
    return int(response.status_code)


def test_if_match_takes_a_star_and_lists_and_compares_strongly(
    client: TestClient, h: Headers
) -> None:
    assert _put(client, h, 'W/"rev-CURRENT"') == 412  # weak tags never match strongly
    assert _put(client, h, '"rev-1", "rev-2"') == 412  # none names the current revision
    assert _put(client, h, '"rev-1", "rev-CURRENT-csv"') == 200  # any tag of the current one
    assert _put(client, h, "*") == 200
    assert _put(client, h, "") == 412  # an empty list matches nothing
    assert _put(client, h, " , ") == 412


def test_a_428_names_the_etag_to_send(client: TestClient, h: Headers) -> None:
    response = client.put(
        "/v1/matrix/qa-tasks/lora", json={"support": "partial"}, headers=h(rev=None)
    )
    assert response.status_code == 428
    tag = f'"rev-{newest(client)}"'
    assert response.json()["current_etag"] == tag
    assert tag in response.json()["detail"]


def test_allow_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.delete("/v1/matrix")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PATCH"
    assert response.json()["allowed"] == ["GET", "HEAD", "PATCH"]
    cell = client.post("/v1/matrix/qa-tasks/lora")
    assert cell.headers["allow"] == "GET, HEAD, PUT"


def test_a_created_technique_has_a_location(client: TestClient, h: Headers) -> None:
    response = client.post(
        "/v1/techniques",
        json={"id": "ia3", "name": "IA3", "category": "adapter"},
        headers=h(rev=newest(client)),
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/techniques/ia3"
    assert client.get(response.headers["location"]).status_code == 200
    dry = client.post(
        "/v1/techniques?dry_run=true",
        json={"id": "ia4", "name": "IA4", "category": "adapter"},
        headers=h(rev=newest(client)),
    )
    assert "location" not in dry.headers


def test_lists_link_to_their_next_page(client: TestClient) -> None:
    first = client.get("/v1/techniques?limit=2")
    link = first.headers["link"]
    assert link.endswith('; rel="next"')
    target = link.split(";")[0].strip("<>")
    assert "offset=2" in target
    second = client.get(target)
    assert second.json()["offset"] == 2
    total = first.json()["total"]
    last = client.get(f"/v1/techniques?limit=2&offset={total - 2}")
    assert "link" not in last.headers
