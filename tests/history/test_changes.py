"""Revision detail, the changes feed, reverts, and revalidation after writes."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.helpers import Headers
from tests.published import CORRECTIONS, CORRECTIONS_REVISION, CURRENT, SEED


def test_revision_detail_and_404(client: TestClient) -> None:
    detail = client.get(f"/v1/revisions/{CORRECTIONS_REVISION}").json()
    assert detail["number"] == CORRECTIONS_REVISION
    assert len(detail["changes"]) == 7
    cells = [c for c in detail["changes"] if c["kind"] == "cell"]
    assert all(c["before"]["support"] != c["after"]["support"] for c in cells)
    missing = client.get(f"/v1/revisions/{CURRENT + 1}")
    assert missing.status_code == 404
    assert missing.json()["latest_revision"] == CURRENT
    at_seed = {"at": SEED}
    assert client.get(f"/v1/revisions/{CORRECTIONS_REVISION}", params=at_seed).status_code == 404


def test_changes_feed_pages_oldest_first(client: TestClient, h: Headers) -> None:
    for k, support in enumerate(("no", "partial", "yes")):
        response = client.put(
            "/v1/matrix/qa-tasks/lora", json={"support": support}, headers=h(rev=CURRENT + k)
        )
        assert response.status_code == 200
    newest = CURRENT + 3
    page = client.get("/v1/changes", params={"since": CURRENT, "limit": 2}).json()
    assert [i["number"] for i in page["items"]] == [CURRENT + 1, CURRENT + 2]
    assert [c["after"]["support"] for i in page["items"] for c in i["changes"]] == ["no", "partial"]
    assert (page["next_since"], page["has_more"], page["revision"]) == (CURRENT + 2, True, newest)
    rest = client.get("/v1/changes", params={"since": page["next_since"]}).json()
    assert [i["number"] for i in rest["items"]] == [newest]
    assert rest["has_more"] is False
    caught_up = client.get("/v1/changes", params={"since": newest}).json()
    assert (caught_up["items"], caught_up["next_since"]) == ([], newest)
    everything = client.get("/v1/changes").json()
    assert [i["number"] for i in everything["items"]] == list(range(SEED, newest + 1))


def test_reads_revalidate_after_a_write(client: TestClient, h: Headers) -> None:
    etag = client.get("/v1/matrix").headers["etag"]
    assert client.get("/v1/matrix", headers={"If-None-Match": etag}).status_code == 304
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    fresh = client.get("/v1/matrix", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == f'"rev-{CURRENT + 1}"'


def _patch_cells(client: TestClient, headers: dict[str, str], *cells: tuple[str, str, str]) -> int:
    """Write (scenario, technique, support) cells in one revision; its number."""
    body = {"cells": [{"scenario": s, "technique": t, "support": v} for s, t, v in cells]}
    response = client.patch("/v1/matrix", json=body, headers=headers)
    assert response.status_code == 200, response.text
    created: int = response.json()["created_revision"]
    return created


def test_revert_makes_a_new_revision_that_undoes_one(client: TestClient, h: Headers) -> None:
    # The test reverts its own write: later data migrations (the errata) rewrite the seeded
    # cells, so no seeded revision stays revertible as data migrations are added.
    before = client.get("/v1/matrix").json()["cells"]
    undone = [(sc, t, old) for (sc, t), (old, _) in CORRECTIONS.items()]
    written = _patch_cells(client, h(reason="Back to the published table"), *undone)
    assert written == CURRENT + 1
    after_write = client.get("/v1/matrix").json()["cells"]
    response = client.post(f"/v1/revisions/{written}/revert", headers=h(rev=written, reason="Undo"))
    assert response.status_code == 201, response.text
    undo = written + 1
    assert response.json()["created_revision"] == undo
    detail = client.get(f"/v1/revisions/{undo}").json()
    assert detail["reason"] == "Undo"
    assert len(detail["changes"]) == len(CORRECTIONS)
    touched = set(CORRECTIONS)
    assert client.get("/v1/matrix").json()["cells"] == [
        c | {"since_revision": undo} if (c["scenario"], c["technique"]) in touched else c
        for c in before
    ]
    again = client.post(f"/v1/revisions/{undo}/revert", headers=h(rev=undo))
    assert again.status_code == 201
    assert client.get("/v1/matrix").json()["cells"] == [
        c | {"since_revision": undo + 1} if (c["scenario"], c["technique"]) in touched else c
        for c in after_write
    ]


def test_revert_refuses_when_later_changes_touch_the_same_data(
    client: TestClient, h: Headers
) -> None:
    first = _patch_cells(
        client, h(), ("reduce-memory", "lora", "partial"), ("qa-tasks", "lora", "partial")
    )
    client.put("/v1/matrix/reduce-memory/lora", json={"support": "no"}, headers=h(rev=first))
    response = client.post(f"/v1/revisions/{first}/revert", headers=h(rev=first + 1))
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["cell reduce-memory/lora"]
    missing = client.post(f"/v1/revisions/{first + 10}/revert", headers=h(rev=first + 1))
    assert missing.status_code == 404


def test_revert_of_the_next_revision_number_is_404(client: TestClient, h: Headers) -> None:
    response = client.post(f"/v1/revisions/{CURRENT + 1}/revert", headers=h())
    assert response.status_code == 404, response.text
    assert client.get("/v1/revisions").json()["revision"] == CURRENT


def test_revert_of_a_retirement_and_of_a_rename(client: TestClient, h: Headers) -> None:
    before = client.get("/v1/export").json()
    pairs = client.get("/v1/pairs").json()["items"]
    peft_pairs = [p for p in pairs if "peft" in (p["a"], p["b"])]
    assert peft_pairs
    client.delete("/v1/techniques/peft", headers=h())
    assert len(client.get("/v1/pairs").json()["items"]) == len(pairs) - len(peft_pairs)
    retired = CURRENT + 1
    restored = client.post(f"/v1/revisions/{retired}/revert", headers=h(rev=retired))
    assert restored.status_code == 201, restored.text
    assert client.get("/v1/techniques/peft").status_code == 200
    after = client.get("/v1/export").json()
    assert {k: after[k] for k in ("techniques", "cells", "pairs")} == {
        k: before[k] for k in ("techniques", "cells", "pairs")
    }
    renamed = client.patch(
        "/v1/scenarios/qa-tasks", json={"id": "question-answering"}, headers=h(rev=CURRENT + 2)
    )
    assert renamed.status_code == 200
    assert client.get("/v1/scenarios/qa-tasks").json()["scenario"]["id"] == "question-answering"
    back = client.post(f"/v1/revisions/{CURRENT + 3}/revert", headers=h(rev=CURRENT + 3))
    assert back.status_code == 201, back.text
    scenario = client.get("/v1/scenarios/qa-tasks").json()["scenario"]
    assert scenario["id"] == "qa-tasks"
    assert "question-answering" not in scenario["aliases"]


def test_seed_diffs_speak_the_api_vocabulary(client: TestClient, h: Headers) -> None:
    created = client.post(
        "/v1/techniques", json={"id": "galore", "name": "GaLore", "category": "other"}, headers=h()
    ).json()["changes"][0]["after"]
    feed = client.get("/v1/changes").json()["items"]
    seeded = [c for item in feed for c in item["changes"] if c["kind"] == "technique"]
    assert seeded
    for change in seeded:
        if change["op"] == "create":
            assert set(change["after"]) == set(created), change["id"]
    # Internal keys (technique_id, low_id...) never leave the database; "_id" may still occur
    # in text, e.g. an offering's note naming a `huggingface_id` field.
    assert not [key for key in _keys(feed) if key.endswith("_id")]


def _keys(value: object) -> Iterator[str]:
    """Every mapping key anywhere inside a decoded JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)
