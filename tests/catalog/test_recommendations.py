"""GET /v1/recommendations: techniques satisfying every scenario, ranked and explained."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.published import COLUMN_IDS, CURRENT, SEED, TECHNIQUE_IDS


def test_ranks_techniques_that_satisfy_all_scenarios(client: TestClient) -> None:
    body = client.get(
        "/v1/recommendations", params=[("scenario", "reduce-memory"), ("scenario", "qa-tasks")]
    ).json()
    assert body["revision"] == CURRENT
    assert [s["id"] for s in body["scenarios"]] == ["reduce-memory", "qa-tasks"]
    assert [i["technique"]["id"] for i in body["items"]] == [
        "lora", "qlora", "peft", "deepspeed", "zero", "dora",
    ]  # fmt: skip
    first = body["items"][0]
    assert first["rank"] == 1
    assert first["score"] == 1.0
    assert [v["scenario"]["id"] for v in first["verdicts"]] == ["reduce-memory", "qa-tasks"]
    assert all(v["support"] == "yes" for v in first["verdicts"])
    # Techniques with no cells yet (ZeRO's stages, FSDP) are unknown, so they are excluded.
    excluded = {e["technique"]["id"]: e["failing"] for e in body["excluded"]}
    assert set(excluded) == set(TECHNIQUE_IDS) - set(COLUMN_IDS)
    assert {f["support"] for fails in excluded.values() for f in fails} == {"unknown"}


def test_excluded_techniques_say_which_scenario_failed(client: TestClient) -> None:
    body = client.get(
        "/v1/recommendations",
        params=[("scenario", "fewer-parameters"), ("scenario", "data-parallel-memory")],
    ).json()
    assert body["items"] == []
    excluded = {e["technique"]["id"]: e["failing"] for e in body["excluded"]}
    assert [f["scenario"]["id"] for f in excluded["deepspeed"]] == ["fewer-parameters"]
    assert [f["scenario"]["id"] for f in excluded["lora"]] == ["data-parallel-memory"]


def test_as_of_revision_1(client: TestClient) -> None:
    body = client.get(
        "/v1/recommendations",
        params=[("scenario", "reduce-memory"), ("scenario", "fewer-parameters"), ("at", str(SEED))],
    ).json()
    assert [i["technique"]["id"] for i in body["items"]] == ["qlora", "dora"]


def test_requires_a_known_scenario(client: TestClient) -> None:
    response = client.get("/v1/recommendations")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "reduce-memory" in response.json()["allowed"]
    response = client.get("/v1/recommendations", params={"scenario": "reduce-memmory"})
    assert response.status_code == 404
    assert response.json()["did_you_mean"] == "reduce-memory"
