"""GET /v1/techniques, /v1/techniques/{id} and /v1/techniques/{id}/scenarios."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.published import (
    COLUMN_IDS,
    CURRENT,
    PAIRS_REVISION,
    SCENARIO_IDS,
    SEED,
    TECHNIQUE_IDS,
)


def test_lists_the_techniques_in_table_order(client: TestClient) -> None:
    response = client.get("/v1/techniques")
    assert response.status_code == 200
    body = response.json()
    assert body["revision"] == CURRENT
    assert body["total"] == 13
    assert [t["id"] for t in body["items"]] == TECHNIQUE_IDS
    assert response.headers["etag"] == f'"rev-{CURRENT}"'
    assert response.headers["x-revision"] == str(CURRENT)
    first = client.get("/v1/techniques", params={"at": PAIRS_REVISION - 1}).json()
    assert [t["id"] for t in first["items"]] == COLUMN_IDS


def test_pagination(client: TestClient) -> None:
    body = client.get("/v1/techniques", params={"limit": 2, "offset": 4}).json()
    assert [t["id"] for t in body["items"]] == ["zero", "dora"]
    assert (body["total"], body["limit"], body["offset"]) == (13, 2, 4)
    assert client.get("/v1/techniques", params={"limit": 0}).status_code == 422
    assert client.get("/v1/techniques", params={"limit": 100_000}).status_code == 422


@pytest.mark.parametrize(
    "spelling", ["dora", "DORA", "DoRA", "Weight-Decomposed Low-Rank Adaptation"]
)
def test_aliases_match_case_insensitively(client: TestClient, spelling: str) -> None:
    body = client.get(f"/v1/techniques/{spelling}").json()
    assert body["technique"]["id"] == "dora"


def test_technique_carries_paper_libraries_parent_and_sources(client: TestClient) -> None:
    t = client.get("/v1/techniques/qlora").json()["technique"]
    assert t["paper"]["arxiv"] == "2305.14314"
    assert t["paper"]["year"] == 2023
    assert t["parent"] == "lora"
    assert t["category"] == "quantized-adapter"
    assert any(lib["name"] == "bitsandbytes" for lib in t["libraries"])
    assert all(lib["sources"] for lib in t["libraries"])
    assert all(fact["sources"] for fact in t["facts"])
    assert "https://arxiv.org/abs/2305.14314" in t["sources"]
    lora = client.get("/v1/techniques/lora").json()["technique"]
    assert lora["children"] == ["qlora", "dora"]
    zero = client.get("/v1/techniques/zero").json()["technique"]
    assert zero["parent"] == "deepspeed"
    assert zero["children"] == [
        "zero-1", "zero-2", "zero-3", "zero-offload", "zero-infinity", "zero-plus-plus",
    ]  # fmt: skip
    stage = client.get("/v1/techniques/ZeRO-3").json()["technique"]
    assert (stage["id"], stage["parent"], stage["category"]) == ("zero-3", "zero", "sharding")


def test_name_as_of_revision_1_is_the_published_column(client: TestClient) -> None:
    assert (
        client.get("/v1/techniques/dora", params={"at": SEED}).json()["technique"]["name"] == "DORA"
    )
    assert client.get("/v1/techniques/dora").json()["technique"]["name"] == "DoRA"


def test_unknown_technique_names_valid_ids_and_closest(client: TestClient) -> None:
    response = client.get("/v1/techniques/qlorra")
    assert response.status_code == 404
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["allowed"] == TECHNIQUE_IDS
    assert body["did_you_mean"] == "qlora"
    assert "qlorra" in body["detail"]


def test_technique_column_with_support_filter(client: TestClient) -> None:
    body = client.get("/v1/techniques/DeepSpeed/scenarios").json()
    assert body["technique"] == {"id": "deepspeed", "name": "DeepSpeed"}
    assert [i["scenario"]["id"] for i in body["items"]] == SCENARIO_IDS
    no = client.get("/v1/techniques/deepspeed/scenarios", params={"support": "no"}).json()
    assert [i["scenario"]["id"] for i in no["items"]] == ["fewer-parameters"]
    old = client.get("/v1/techniques/lora/scenarios", params={"support": "no", "at": SEED}).json()
    assert [i["scenario"]["id"] for i in old["items"]] == [
        "reduce-memory",
        "fewer-parameters",
        "data-parallel-memory",
    ]
