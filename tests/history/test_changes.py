"""Revision detail, the changes feed, reverts, and revalidation after writes."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.helpers import Headers
from tests.published import COLUMN_IDS, CURRENT


def test_revision_detail_and_404(client: TestClient) -> None:
    detail = client.get("/v1/revisions/2").json()
    assert detail["number"] == 2
    assert len(detail["changes"]) == 7
    cells = [c for c in detail["changes"] if c["kind"] == "cell"]
    assert all(c["before"]["support"] != c["after"]["support"] for c in cells)
    missing = client.get("/v1/revisions/9")
    assert missing.status_code == 404
    assert missing.json()["latest_revision"] == CURRENT
    assert client.get("/v1/revisions/2", params={"at": 1}).status_code == 404


def test_changes_feed_pages_oldest_first(client: TestClient, h: Headers) -> None:
    for rev, support in ((3, "no"), (4, "partial"), (5, "yes")):
        response = client.put(
            "/v1/matrix/qa-tasks/lora", json={"support": support}, headers=h(rev=rev)
        )
        assert response.status_code == 200
    page = client.get("/v1/changes", params={"since": 3, "limit": 2}).json()
    assert [i["number"] for i in page["items"]] == [4, 5]
    assert [c["after"]["support"] for i in page["items"] for c in i["changes"]] == ["no", "partial"]
    assert (page["next_since"], page["has_more"], page["revision"]) == (5, True, 6)
    rest = client.get("/v1/changes", params={"since": page["next_since"]}).json()
    assert [i["number"] for i in rest["items"]] == [6]
    assert rest["has_more"] is False
    caught_up = client.get("/v1/changes", params={"since": 6}).json()
    assert (caught_up["items"], caught_up["next_since"]) == ([], 6)
    everything = client.get("/v1/changes").json()
    assert [i["number"] for i in everything["items"]] == [1, 2, 3, 4, 5, 6]


def test_reads_revalidate_after_a_write(client: TestClient, h: Headers) -> None:
    etag = client.get("/v1/matrix").headers["etag"]
    assert client.get("/v1/matrix", headers={"If-None-Match": etag}).status_code == 304
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    fresh = client.get("/v1/matrix", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"rev-4"'


def test_revert_makes_a_new_revision_that_undoes_one(client: TestClient, h: Headers) -> None:
    six = [("technique", t) for t in COLUMN_IDS]
    response = client.post("/v1/revisions/2/revert", headers=h(reason="Undo the corrections"))
    assert response.status_code == 201, response.text
    assert response.json()["created_revision"] == 4
    assert (
        client.get("/v1/matrix", params=[("format", "markdown"), *six]).text
        == client.get("/v1/matrix", params={"format": "markdown", "at": 1}).text
    )
    detail = client.get("/v1/revisions/4").json()
    assert detail["reason"] == "Undo the corrections"
    assert len(detail["changes"]) == 7
    again = client.post("/v1/revisions/4/revert", headers=h(rev=4))
    assert again.status_code == 201
    assert client.get("/v1/matrix").json()["cells"] == [
        c | {"since_revision": 5} if c["since_revision"] == 2 else c
        for c in client.get("/v1/matrix", params={"at": 3}).json()["cells"]
    ]


def test_revert_refuses_when_later_changes_touch_the_same_data(
    client: TestClient, h: Headers
) -> None:
    client.put("/v1/matrix/reduce-memory/lora", json={"support": "partial"}, headers=h())
    response = client.post("/v1/revisions/2/revert", headers=h(rev=4))
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["cell reduce-memory/lora"]
    assert client.post("/v1/revisions/9/revert", headers=h(rev=4)).status_code == 404


def test_revert_of_a_retirement_and_of_a_rename(client: TestClient, h: Headers) -> None:
    before = client.get("/v1/export").json()
    client.delete("/v1/techniques/peft", headers=h())
    assert len(client.get("/v1/pairs").json()["items"]) == 26 - 4  # peft's four pair facts
    restored = client.post("/v1/revisions/4/revert", headers=h(rev=4))
    assert restored.status_code == 201, restored.text
    assert client.get("/v1/techniques/peft").status_code == 200
    after = client.get("/v1/export").json()
    assert {k: after[k] for k in ("techniques", "cells", "pairs")} == {
        k: before[k] for k in ("techniques", "cells", "pairs")
    }
    renamed = client.patch(
        "/v1/scenarios/qa-tasks", json={"id": "question-answering"}, headers=h(rev=5)
    )
    assert renamed.status_code == 200
    assert client.get("/v1/scenarios/qa-tasks").json()["scenario"]["id"] == "question-answering"
    back = client.post("/v1/revisions/6/revert", headers=h(rev=6))
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
    assert "_id" not in json.dumps(feed)  # internal keys never leave the database
