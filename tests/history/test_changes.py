"""Revision detail, the changes feed, reverts, and revalidation after writes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import Headers


def test_revision_detail_and_404(client: TestClient) -> None:
    detail = client.get("/v1/revisions/2").json()
    assert detail["number"] == 2
    assert len(detail["changes"]) == 7
    cells = [c for c in detail["changes"] if c["kind"] == "cell"]
    assert all(c["before"]["support"] != c["after"]["support"] for c in cells)
    missing = client.get("/v1/revisions/9")
    assert missing.status_code == 404
    assert missing.json()["latest_revision"] == 2
    assert client.get("/v1/revisions/2", params={"at": 1}).status_code == 404


def test_changes_feed_pages_oldest_first(client: TestClient, h: Headers) -> None:
    for rev, support in ((2, "no"), (3, "partial"), (4, "yes")):
        response = client.put(
            "/v1/matrix/qa-tasks/lora", json={"support": support}, headers=h(rev=rev)
        )
        assert response.status_code == 200
    page = client.get("/v1/changes", params={"since": 2, "limit": 2}).json()
    assert [i["number"] for i in page["items"]] == [3, 4]
    assert (page["next_since"], page["has_more"], page["revision"]) == (4, True, 5)
    rest = client.get("/v1/changes", params={"since": page["next_since"]}).json()
    assert [i["number"] for i in rest["items"]] == [5]
    assert rest["has_more"] is False
    caught_up = client.get("/v1/changes", params={"since": 5}).json()
    assert (caught_up["items"], caught_up["next_since"]) == ([], 5)


def test_reads_revalidate_after_a_write(client: TestClient, h: Headers) -> None:
    etag = client.get("/v1/matrix").headers["etag"]
    assert client.get("/v1/matrix", headers={"If-None-Match": etag}).status_code == 304
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    fresh = client.get("/v1/matrix", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"rev-3"'


def test_revert_makes_a_new_revision_that_undoes_one(client: TestClient, h: Headers) -> None:
    response = client.post("/v1/revisions/2/revert", headers=h(reason="Undo the corrections"))
    assert response.status_code == 201, response.text
    assert response.json()["created_revision"] == 3
    assert (
        client.get("/v1/matrix", params={"format": "markdown"}).text
        == client.get("/v1/matrix", params={"format": "markdown", "at": 1}).text
    )
    detail = client.get("/v1/revisions/3").json()
    assert detail["reason"] == "Undo the corrections"
    assert len(detail["changes"]) == 7
    again = client.post("/v1/revisions/3/revert", headers=h(rev=3))
    assert again.status_code == 201
    assert client.get("/v1/matrix").json()["cells"] == [
        c | {"since_revision": 4} if c["since_revision"] == 2 else c
        for c in client.get("/v1/matrix", params={"at": 2}).json()["cells"]
    ]


def test_revert_refuses_when_later_changes_touch_the_same_data(
    client: TestClient, h: Headers
) -> None:
    client.put("/v1/matrix/reduce-memory/lora", json={"support": "partial"}, headers=h())
    response = client.post("/v1/revisions/2/revert", headers=h(rev=3))
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["cell reduce-memory/lora"]
    assert client.post("/v1/revisions/9/revert", headers=h(rev=3)).status_code == 404


def test_revert_of_a_retirement_and_of_a_rename(client: TestClient, h: Headers) -> None:
    client.delete("/v1/techniques/peft", headers=h())
    restored = client.post("/v1/revisions/3/revert", headers=h(rev=3))
    assert restored.status_code == 201, restored.text
    assert client.get("/v1/techniques/peft").status_code == 200
    assert len(client.get("/v1/matrix").json()["cells"]) == 54
    renamed = client.patch(
        "/v1/scenarios/qa-tasks", json={"id": "question-answering"}, headers=h(rev=4)
    )
    assert renamed.status_code == 200
    assert client.get("/v1/scenarios/qa-tasks").json()["scenario"]["id"] == "question-answering"
    back = client.post("/v1/revisions/5/revert", headers=h(rev=5))
    assert back.status_code == 201, back.text
    scenario = client.get("/v1/scenarios/qa-tasks").json()["scenario"]
    assert scenario["id"] == "qa-tasks"
    assert "question-answering" not in scenario["aliases"]
