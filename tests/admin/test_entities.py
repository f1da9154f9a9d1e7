"""Curator writes of models, hardware, platforms and offerings: PUT creates or replaces,
DELETE retires; each write leaves one revision and one audit row, and reverts round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers, audit_rows

ROUTES = {"model": "models", "hardware": "hardware", "platform": "platforms",
          "offering": "offerings"}  # fmt: skip
COMPUTED = ("id", "since_revision", "offerings")
"""Read fields a write does not send: the id is in the path, the rest is computed on read."""


def current(client: TestClient) -> int:
    revision: int = client.get("/v1/revisions").json()["revision"]
    return revision


def read(client: TestClient, kind: str, ident: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/{ROUTES[kind]}/{ident}", params=params)
    assert response.status_code == 200, response.text
    entity: dict[str, Any] = response.json()[kind]
    return entity


def body_of(entity: dict[str, Any]) -> dict[str, Any]:
    """The PUT body that writes `entity` as read."""
    return {k: v for k, v in entity.items() if k not in COMPUTED}


def put(
    client: TestClient, h: Headers, kind: str, ident: str, body: dict[str, Any], **params: Any
) -> Any:
    return client.put(
        f"/v1/{ROUTES[kind]}/{ident}",
        json=body,
        params=params,
        headers=h(rev=current(client), reason=f"curate {kind} {ident}"),
    )


def test_create_a_model_leaves_a_revision_and_an_audit_row(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    start = current(client)
    body = body_of(read(client, "model", "phi-4")) | {
        "name": "Test model",
        "aliases": ["Test-Model-Alias"],
    }
    response = put(client, h, "model", "test-model", body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/models/test-model"
    assert response.headers["etag"] == f'"rev-{start + 1}"'
    result = response.json()
    assert (result["revision"], result["created_revision"], result["dry_run"]) == (
        start + 1,
        start + 1,
        False,
    )
    [change] = result["changes"]
    assert (change["op"], change["kind"], change["id"], change["before"]) == (
        "create",
        "model",
        "test-model",
        None,
    )
    assert change["after"]["name"] == "Test model"
    revision = client.get(f"/v1/revisions/{start + 1}").json()
    assert (revision["author"], revision["reason"]) == ("curator", "curate model test-model")
    assert revision["changes"] == result["changes"]
    created = read(client, "model", "test-model-alias")  # the alias resolves, case-insensitively
    assert (created["id"], created["since_revision"]) == ("test-model", start + 1)
    [row] = audit_rows(client, admin_key)
    assert (row["key_name"], row["action"], row["outcome"], row["revision"]) == (
        "curator",
        "set_model",
        "ok",
        start + 1,
    )
    assert row["target"] == "/v1/models/test-model"


def test_replace_records_only_the_fields_that_changed(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    start = current(client)
    before = read(client, "hardware", "a100-80gb")
    changed = body_of(before) | {"note": "Curated note."}
    response = put(client, h, "hardware", "a100-80gb", changed)
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert response.json()["changes"] == [
        {
            "op": "update",
            "kind": "hardware",
            "id": "a100-80gb",
            "before": {"note": before.get("note")},
            "after": {"note": "Curated note."},
        }
    ]
    assert read(client, "hardware", "a100-80gb")["note"] == "Curated note."
    assert read(client, "hardware", "a100-80gb", at=start)["note"] == before.get("note")
    again = put(client, h, "hardware", "a100-80gb", changed)  # the same body changes nothing
    assert (again.json()["created_revision"], again.json()["changes"]) == (None, [])
    assert current(client) == start + 1
    actions = [(r["action"], r["revision"]) for r in audit_rows(client, admin_key)]
    assert actions == [("set_hardware", None), ("set_hardware", start + 1)]


@pytest.mark.parametrize("kind", list(ROUTES))
def test_every_stored_entity_round_trips_through_its_write_schema(
    client: TestClient, h: Headers, kind: str
) -> None:
    start = current(client)
    items = client.get(f"/v1/{ROUTES[kind]}").json()["items"]
    assert items
    for entity in items:
        response = put(client, h, kind, entity["id"], body_of(entity))
        assert response.status_code == 200, (entity["id"], response.text)
        assert response.json()["changes"] == [], entity["id"]
    assert current(client) == start


def test_dry_run_returns_the_diff_and_writes_nothing(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    start = current(client)
    body = body_of(read(client, "platform", "kaito")) | {"seed_name": "Kaito (curated)"}
    response = put(client, h, "platform", "kaito", body, dry_run="true")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["dry_run"], result["created_revision"], result["revision"]) == (
        True,
        None,
        start,
    )
    assert result["changes"][0]["after"] == {"seed_name": "Kaito (curated)"}
    assert read(client, "platform", "kaito")["seed_name"] != "Kaito (curated)"
    assert current(client) == start
    [row] = audit_rows(client, admin_key)
    assert (row["action"], row["outcome"], row["revision"]) == ("set_platform", "dry_run", None)


def test_writes_need_if_match_and_the_current_revision(client: TestClient, h: Headers) -> None:
    start = current(client)
    body = body_of(read(client, "platform", "kaito"))
    missing = client.put("/v1/platforms/kaito", json=body, headers=h(rev=None))
    assert missing.status_code == 428
    assert missing.json()["current_etag"] == f'"rev-{start}"'
    stale = client.put("/v1/platforms/kaito", json=body, headers=h(rev=start - 1))
    assert stale.status_code == 412
    assert stale.json()["current_revision"] == start
    retire = client.delete("/v1/platforms/kaito", headers=h(rev=start - 1))
    assert retire.status_code == 412


def test_bad_bodies_are_422_with_the_allowed_values(client: TestClient, h: Headers) -> None:
    body = body_of(read(client, "offering", "kaito-tuning"))
    bad_mode = put(client, h, "offering", "kaito-tuning", body | {"mode": "cloud"})
    assert bad_mode.status_code == 422
    [error] = [e for e in bad_mode.json()["errors"] if e["location"].endswith("mode")]
    assert {"maas", "maap", "kubernetes"} <= set(error["allowed"])
    extra = put(client, h, "offering", "kaito-tuning", body | {"colour": "blue"})
    assert extra.status_code == 422
    bad_platform = put(client, h, "offering", "kaito-tuning", body | {"platform": "kaitoo"})
    assert bad_platform.status_code == 422
    [error] = bad_platform.json()["errors"]
    assert (error["location"], error["did_you_mean"]) == ("body.platform", "kaito")
    assert "kaito" in error["allowed"]
    techniques = [{**body["techniques"][0], "technique": "lroa"}]
    bad_technique = put(client, h, "offering", "kaito-tuning", body | {"techniques": techniques})
    assert bad_technique.status_code == 422
    [error] = bad_technique.json()["errors"]
    assert (error["location"], error["did_you_mean"]) == ("body.techniques.0.technique", "lora")
    bad_id = client.put(
        "/v1/models/Not_A_Slug", json=body_of(read(client, "model", "phi-4")), headers=h()
    )
    assert bad_id.status_code == 422


def test_technique_aliases_are_stored_as_ids(client: TestClient, h: Headers) -> None:
    body = body_of(read(client, "offering", "kaito-tuning"))
    techniques = [{**t, "technique": t["technique"].upper()} for t in body["techniques"]]
    response = put(client, h, "offering", "kaito-tuning", body | {"techniques": techniques})
    assert response.status_code == 200, response.text
    assert response.json()["changes"] == []  # LORA is lora: nothing changed


def test_an_alias_of_another_entity_is_a_conflict(client: TestClient, h: Headers) -> None:
    taken = read(client, "platform", "microsoft-foundry")["aliases"][0]
    body = body_of(read(client, "platform", "kaito")) | {"aliases": [taken]}
    response = put(client, h, "platform", "kaito", body)
    assert response.status_code == 409
    assert response.json()["conflicting"] == "microsoft-foundry"


def test_retire_hides_it_keeps_history_and_never_reuses_the_id(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    start = current(client)
    old = read(client, "offering", "olive-finetune")
    response = client.delete("/v1/offerings/olive-finetune", headers=h(rev=start))
    assert response.status_code == 200, response.text
    [change] = response.json()["changes"]
    assert (change["op"], change["kind"], change["id"], change["after"]) == (
        "retire",
        "offering",
        "olive-finetune",
        None,
    )
    assert change["before"] == body_of(old)
    assert client.get("/v1/offerings/olive-finetune").status_code == 404
    assert read(client, "offering", "olive-finetune", at=start)["name"] == old["name"]
    assert "olive-finetune" not in read(client, "platform", "olive")["offerings"]
    again = put(client, h, "offering", "olive-finetune", body_of(old))
    assert again.status_code == 409
    assert "never reused" in again.json()["detail"]
    [row] = audit_rows(client, admin_key, action="delete_offering")
    assert (row["outcome"], row["revision"]) == ("ok", start + 1)


def test_what_an_offering_names_cannot_be_retired(client: TestClient, h: Headers) -> None:
    response = client.delete("/v1/platforms/kaito", headers=h(rev=current(client)))
    assert response.status_code == 409
    assert response.json()["referenced_by"] == ["kaito-tuning"]
    unknown = client.delete("/v1/models/phi-5", headers=h(rev=current(client)))
    assert unknown.status_code == 404
    assert unknown.json()["did_you_mean"]


def revert(client: TestClient, h: Headers, number: int) -> dict[str, Any]:
    response = client.post(f"/v1/revisions/{number}/revert", headers=h(rev=current(client)))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_revert_round_trips_create_update_and_retire(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    start = current(client)
    original = read(client, "model", "phi-4")
    body = body_of(original) | {"license": "curated licence text"}
    assert put(client, h, "model", "phi-4", body).status_code == 200
    undone = revert(client, h, start + 1)
    assert [c["op"] for c in undone["changes"]] == ["update"]
    assert body_of(read(client, "model", "phi-4")) == body_of(original)

    retired = client.delete("/v1/hardware/fpga", headers=h(rev=current(client)))
    assert retired.status_code == 200, retired.text
    restored = revert(client, h, start + 3)
    assert [(c["op"], c["kind"], c["id"]) for c in restored["changes"]] == [
        ("create", "hardware", "fpga")
    ]
    assert body_of(read(client, "hardware", "fpga")) == body_of(
        read(client, "hardware", "fpga", at=start)
    )

    fresh = body_of(read(client, "hardware", "t4-16gb")) | {"name": "Test card"}
    assert put(client, h, "hardware", "test-card", fresh).status_code == 201
    gone = revert(client, h, start + 5)
    assert [(c["op"], c["id"]) for c in gone["changes"]] == [("retire", "test-card")]
    assert client.get("/v1/hardware/test-card").status_code == 404
    assert current(client) == start + 6
    actions = [r["action"] for r in audit_rows(client, admin_key)]
    assert actions == [
        "revert_revision", "set_hardware", "revert_revision", "delete_hardware",
        "revert_revision", "set_model",
    ]  # fmt: skip


def test_a_revert_after_a_later_change_is_a_conflict(client: TestClient, h: Headers) -> None:
    start = current(client)
    body = body_of(read(client, "platform", "olive"))
    assert put(client, h, "platform", "olive", body | {"seed_name": "one"}).status_code == 200
    assert put(client, h, "platform", "olive", body | {"seed_name": "two"}).status_code == 200
    response = client.post(f"/v1/revisions/{start + 1}/revert", headers=h(rev=current(client)))
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["platform olive"]
