"""GET /v1/scenarios, /v1/scenarios/{id} and /v1/scenarios/{id}/techniques."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.published import SCENARIO_IDS, SEED, table_rows


def test_lists_the_nine_scenarios_with_verbatim_titles(client: TestClient) -> None:
    body = client.get("/v1/scenarios").json()
    assert body["total"] == 9
    assert [s["id"] for s in body["items"]] == SCENARIO_IDS
    _, rows = table_rows()
    assert [s["title"] for s in body["items"]] == [title for title, _ in rows]
    kinds = {s["id"]: s["kind"] for s in body["items"]}
    assert {k for k, v in kinds.items() if v == "goal"} == {
        "reduce-cost",
        "reduce-memory",
        "fewer-parameters",
        "data-parallel-memory",
    }


def test_scenario_by_id_alias_or_title(client: TestClient) -> None:
    for spelling in ("qa-tasks", "Question Answering", "fine-tuning for qa tasks"):
        body = client.get(f"/v1/scenarios/{spelling}").json()
        assert body["scenario"]["id"] == "qa-tasks"
        assert body["scenario"]["title"] == "Fine-tuning for QA tasks"


def test_unknown_scenario_is_404_with_closest(client: TestClient) -> None:
    body = client.get("/v1/scenarios/reduce-memmory").json()
    assert body["status"] == 404
    assert body["did_you_mean"] == "reduce-memory"
    assert body["allowed"] == SCENARIO_IDS


def test_scenario_row_with_support_filter(client: TestClient) -> None:
    body = client.get(
        "/v1/scenarios/data-parallel-memory/techniques", params={"support": "yes"}
    ).json()
    assert [i["technique"]["id"] for i in body["items"]] == ["deepspeed", "zero"]
    old = client.get(
        "/v1/scenarios/data-parallel-memory/techniques", params={"support": "yes", "at": SEED}
    ).json()
    assert [i["technique"]["id"] for i in old["items"]] == ["deepspeed", "zero", "dora"]
    both = client.get(
        "/v1/scenarios/reduce-cost/techniques", params=[("support", "yes"), ("support", "no")]
    ).json()
    assert len(both["items"]) == 6
