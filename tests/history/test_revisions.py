"""GET /v1/revisions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.published import CORRECTIONS_REVISION, CURRENT, PAIRS_REVISION, SEED


def test_revisions_newest_first(client: TestClient) -> None:
    body = client.get("/v1/revisions").json()
    assert body["revision"] == CURRENT
    assert [r["number"] for r in body["items"]] == list(range(CURRENT, SEED - 1, -1))
    by_number = {r["number"]: r for r in body["items"]}
    pairs = by_number[PAIRS_REVISION]
    corrections = by_number[CORRECTIONS_REVISION]
    published = by_number[SEED]
    assert pairs["reason"] == "ZeRO stages, FSDP and technique pairs from the sourced fact sheet"
    assert pairs["changes"] == 7 + 26  # techniques added, pair facts
    assert corrections["reason"] == "Corrections from the Phi-3 Cookbook's revised table"
    assert corrections["changes"] == 7  # six cells and the DORA -> DoRA column name
    assert corrections["created_at"].endswith(("Z", "+00:00"))
    assert published["changes"] == 6 + 9 + 54
    assert {r["author"] for r in body["items"]} == {"ftmatrix seed"}


def test_revisions_as_of_and_paged(client: TestClient) -> None:
    as_of_seed = client.get("/v1/revisions", params={"at": SEED}).json()["items"]
    assert [r["number"] for r in as_of_seed] == [SEED]
    page = client.get("/v1/revisions", params={"limit": 1, "offset": 1}).json()
    assert [r["number"] for r in page["items"]] == [CURRENT - 1]
    assert page["total"] == CURRENT
