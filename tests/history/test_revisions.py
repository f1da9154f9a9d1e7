"""GET /v1/revisions."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_revisions_newest_first(client: TestClient) -> None:
    body = client.get("/v1/revisions").json()
    assert body["revision"] == 2
    assert [r["number"] for r in body["items"]] == [2, 1]
    newest = body["items"][0]
    assert newest["reason"] == "Corrections from the Phi-3 Cookbook's revised table"
    assert newest["changes"] == 7  # six cells and the DORA -> DoRA column name
    assert newest["created_at"].endswith("Z") or newest["created_at"].endswith("+00:00")
    assert body["items"][1]["changes"] == 6 + 9 + 54


def test_revisions_as_of_and_paged(client: TestClient) -> None:
    assert [r["number"] for r in client.get("/v1/revisions", params={"at": 1}).json()["items"]] == [
        1
    ]
    page = client.get("/v1/revisions", params={"limit": 1, "offset": 1}).json()
    assert [r["number"] for r in page["items"]] == [1]
    assert page["total"] == 2
