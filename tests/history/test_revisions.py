"""GET /v1/revisions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.published import CURRENT


def test_revisions_newest_first(client: TestClient) -> None:
    body = client.get("/v1/revisions").json()
    assert body["revision"] == CURRENT == 3
    assert [r["number"] for r in body["items"]] == [3, 2, 1]
    pairs, corrections, published = body["items"]
    assert pairs["reason"] == "ZeRO stages, FSDP and technique pairs from the sourced fact sheet"
    assert pairs["changes"] == 7 + 26  # techniques added, pair facts
    assert corrections["reason"] == "Corrections from the Phi-3 Cookbook's revised table"
    assert corrections["changes"] == 7  # six cells and the DORA -> DoRA column name
    assert corrections["created_at"].endswith(("Z", "+00:00"))
    assert published["changes"] == 6 + 9 + 54
    assert {r["author"] for r in body["items"]} == {"ftmatrix seed"}


def test_revisions_as_of_and_paged(client: TestClient) -> None:
    assert [r["number"] for r in client.get("/v1/revisions", params={"at": 1}).json()["items"]] == [
        1
    ]
    page = client.get("/v1/revisions", params={"limit": 1, "offset": 1}).json()
    assert [r["number"] for r in page["items"]] == [2]
    assert page["total"] == 3
