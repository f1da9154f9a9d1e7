"""Writes: one revision each, with its diff and audit row; reads see it at once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers, audit_rows
from tests.published import CURRENT, SCENARIO_IDS, SEED, TECHNIQUE_IDS


def cell(client: TestClient, scenario: str, technique: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/matrix/{scenario}/{technique}", params=params).json()
    return body


def test_correct_a_cell(client: TestClient, h: Headers, admin_key: str) -> None:
    # The seeded note and sources are whatever the newest data migration left there.
    stored = cell(client, "qa-tasks", "qlora")["cell"]
    assert stored["support"] == "yes"
    response = client.put(
        "/v1/matrix/qa-tasks/qlora",
        json={"support": "partial", "note": "Checked by hand.", "sources": ["https://x.test/a"]},
        headers=h(reason="QA with QLoRA needs care"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    written = CURRENT + 1
    assert (body["revision"], body["created_revision"], body["dry_run"]) == (
        written,
        written,
        False,
    )
    assert body["changes"] == [
        {
            "op": "update",
            "kind": "cell",
            "id": "qa-tasks/qlora",
            "before": {k: stored[k] for k in ("support", "note", "sources")},
            "after": {"support": "partial", "note": "Checked by hand.", "sources": ["https://x.test/a"]},
        }
    ]  # fmt: skip
    assert response.headers["etag"] == f'"rev-{written}"'
    now = cell(client, "qa-tasks", "qlora")
    assert (now["revision"], now["cell"]["support"], now["cell"]["since_revision"]) == (
        written,
        "partial",
        written,
    )
    assert cell(client, "qa-tasks", "qlora", at=CURRENT)["cell"]["support"] == "yes"
    revision = client.get(f"/v1/revisions/{written}").json()
    assert (revision["author"], revision["reason"]) == ("curator", "QA with QLoRA needs care")
    assert revision["changes"] == body["changes"]
    [row] = audit_rows(client, admin_key)
    assert row["key_name"] == "curator"
    assert (row["action"], row["outcome"], row["status"], row["revision"]) == (
        "set_cell",
        "ok",
        200,
        written,
    )
    assert row["target"] == "/v1/matrix/qa-tasks/qlora"
    assert row["request_id"]


def test_add_a_technique_with_its_cells(client: TestClient, h: Headers, admin_key: str) -> None:
    created = client.post(
        "/v1/techniques",
        json={
            "id": "galore",
            "name": "GaLore",
            "category": "other",
            "aliases": ["Gradient Low-Rank Projection"],
            "sources": ["https://arxiv.org/abs/2403.03507"],
        },
        headers=h(reason="Add GaLore"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["changes"][0]["op"] == "create"
    cells = client.patch(
        "/v1/matrix",
        json={"cells": [
            {"scenario": "reduce-memory", "technique": "galore", "support": "yes",
             "note": "Projects gradients to low rank.", "sources": ["https://arxiv.org/abs/2403.03507"]},
            {"scenario": "qa-tasks", "technique": "GaLore", "support": "unknown",
             "note": "No source found yet."},
        ]},
        headers=h(rev=CURRENT + 1, reason="GaLore cells"),
    )  # fmt: skip
    assert cells.status_code == 200, cells.text
    assert [c["id"] for c in cells.json()["changes"]] == ["reduce-memory/galore", "qa-tasks/galore"]
    assert cells.json()["revision"] == CURRENT + 2
    technique = client.get("/v1/techniques/gradient low-rank projection").json()["technique"]
    assert technique["id"] == "galore"
    assert cell(client, "reduce-memory", "galore")["cell"]["support"] == "yes"
    assert client.get("/v1/techniques/galore", params={"at": CURRENT + 1}).status_code == 200
    assert client.get("/v1/techniques/galore", params={"at": CURRENT}).status_code == 404
    markdown = client.get("/v1/matrix", params={"format": "markdown"}).text
    assert markdown.splitlines()[2].endswith("|FSDP|GaLore|")
    actions = [(r["action"], r["revision"]) for r in audit_rows(client, admin_key)]
    assert actions == [("apply_matrix", CURRENT + 2), ("create_technique", CURRENT + 1)]


def test_paste_back_an_edited_markdown_table(client: TestClient, h: Headers) -> None:
    table = client.get("/v1/matrix", params={"format": "markdown"}).text
    edited = table.replace(
        "|Fine-tuning for QA tasks|Yes|Yes|Yes|Yes|Yes|Yes|",
        "|Fine-tuning for QA tasks|Yes|Partial|Yes|Yes|Yes|No|",
    )
    response = client.patch(
        "/v1/matrix",
        content=edited,
        headers=h(reason="Edited table", **{"Content-Type": "text/markdown; charset=utf-8"}),
    )
    assert response.status_code == 200, response.text
    changes = response.json()["changes"]
    assert [(c["id"], c["after"]) for c in changes] == [
        ("qa-tasks/qlora", {"support": "partial"}),
        ("qa-tasks/dora", {"support": "no"}),
    ]
    assert client.get("/v1/matrix", params={"format": "markdown"}).text == edited
    same = client.patch(
        "/v1/matrix",
        content=edited,
        headers=h(rev=CURRENT + 1, reason="again", **{"Content-Type": "text/markdown"}),
    )
    unchanged: dict[str, object] = {
        "revision": CURRENT + 1,
        "created_revision": None,
        "dry_run": False,
        "changes": [],
    }
    assert same.json() == unchanged
    assert client.get("/v1/revisions").json()["revision"] == CURRENT + 1


def test_bulk_with_bad_rows_changes_nothing_and_reports_every_row(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    text = (
        "scenario,technique,support,note,sources\r\n"
        "qa-tasks,lora,no,,\r\n"
        "qa-tasks,lorra,yes,,\r\n"
        "reduce-memmory,qlora,maybe,,\r\n"
    )
    response = client.patch("/v1/matrix", content=text, headers=h(**{"Content-Type": "text/csv"}))
    assert response.status_code == 422
    errors = response.json()["errors"]
    by_row = {(e["row"], e["location"]) for e in errors}
    assert (4, "support") in by_row
    assert response.json()["detail"].endswith("nothing was changed.")
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
    assert cell(client, "qa-tasks", "lora")["cell"]["support"] == "yes"
    good_syntax_bad_ids = "scenario,technique,support\r\nqa-tasks,lorra,yes\r\nqa-taks,lora,no\r\n"
    response = client.patch(
        "/v1/matrix", content=good_syntax_bad_ids, headers=h(**{"Content-Type": "text/csv"})
    )
    assert response.status_code == 422
    assert [(e["row"], e["location"]) for e in response.json()["errors"]] == [
        (2, "technique"),
        (3, "scenario"),
    ]
    assert "lora" in response.json()["errors"][0]["allowed"]
    [refusal, first] = audit_rows(client, admin_key)
    assert (refusal["outcome"], refusal["status"], first["status"]) == ("refused", 422, 422)


def test_unsupported_bulk_type_is_415(client: TestClient, h: Headers) -> None:
    response = client.patch(
        "/v1/matrix", content=b"<x/>", headers=h(**{"Content-Type": "application/xml"})
    )
    assert response.status_code == 415
    assert "text/csv" in response.json()["allowed"]


def test_failure_in_the_middle_of_a_bulk_write_leaves_no_trace(
    client: TestClient, h: Headers, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.admin.writer import Writer

    real = Writer.put_cells
    calls = {"n": 0}

    def flaky(self: Writer, rows: Any, absent: Any = ()) -> None:
        # The version rows are closed and written, then the write fails before it finishes.
        calls["n"] += 1
        real(self, rows, absent)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Writer, "put_cells", flaky)
    before = client.get("/v1/matrix", params={"format": "csv"}).text
    body = {"cells": [
        {"scenario": s, "technique": "lora", "support": "partial"}
        for s in ("qa-tasks", "nlp-tasks", "chatbot-responses", "domain-adaptation")
    ]}  # fmt: skip
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        response = quiet.patch("/v1/matrix", json=body, headers=h())
    assert response.status_code == 500
    assert "disk on fire" not in response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert calls["n"] == 1
    assert client.get("/v1/matrix", params={"format": "csv"}).text == before
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
    [row] = audit_rows(client, admin_key)
    assert (row["outcome"], row["status"], row["revision"]) == ("error", 500, None)


@pytest.mark.parametrize(
    ("kwargs", "status", "slug"),
    [
        ({"reason": None}, 422, "invalid-input"),
        ({"reason": ""}, 422, "invalid-input"),
        ({"rev": None}, 428, "precondition-required"),
        ({"rev": SEED}, 412, "precondition-failed"),
        ({"rev": CURRENT + 1}, 412, "precondition-failed"),  # not written yet
    ],
)
def test_writes_need_a_reason_and_a_current_etag(
    client: TestClient, h: Headers, admin_key: str, kwargs: dict[str, Any], status: int, slug: str
) -> None:
    response = client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h(**kwargs))
    assert response.status_code == status
    assert response.json()["type"].endswith(slug)
    if status == 412:
        assert response.json()["current_revision"] == CURRENT
    assert cell(client, "qa-tasks", "lora")["cell"]["support"] == "yes"
    [row] = audit_rows(client, admin_key)
    assert (row["outcome"], row["status"], row["key_name"]) == ("refused", status, "curator")


def test_if_match_must_be_an_issued_etag(client: TestClient, h: Headers) -> None:
    headers = h() | {"If-Match": f"rev-{CURRENT}"}
    response = client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=headers)
    assert response.status_code == 412
    assert response.json()["allowed"] == ['"rev-<N>"', '"rev-<N>-<variant>"', "*"]


def test_dry_run_returns_the_diff_and_writes_nothing(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    response = client.put(
        "/v1/matrix/qa-tasks/lora", params={"dry_run": "true"}, json={"support": "no"}, headers=h()
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["dry_run"], body["revision"], body["created_revision"]) == (True, CURRENT, None)
    assert body["changes"][0]["after"]["support"] == "no"
    created = client.post(
        "/v1/techniques?dry_run=true",
        json={"id": "fsdp2", "name": "FSDP2", "category": "sharding"},
        headers=h(),
    )
    assert created.status_code == 200
    assert cell(client, "qa-tasks", "lora")["cell"]["support"] == "yes"
    assert client.get("/v1/techniques/fsdp2").status_code == 404
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
    assert [r["outcome"] for r in audit_rows(client, admin_key)] == ["dry_run", "dry_run"]


def test_rename_keeps_the_old_id_as_an_alias(client: TestClient, h: Headers) -> None:
    response = client.patch("/v1/techniques/zero", json={"id": "deepspeed-zero"}, headers=h())
    assert response.status_code == 200, response.text
    assert response.json()["changes"][0]["after"]["id"] == "deepspeed-zero"
    t = client.get("/v1/techniques/zero").json()["technique"]
    assert t["id"] == "deepspeed-zero"
    assert "zero" in [a.casefold() for a in t["aliases"]]
    assert cell(client, "reduce-memory", "zero")["cell"]["support"] == "yes"
    assert (
        client.get("/v1/techniques/zero", params={"at": CURRENT}).json()["technique"]["id"]
        == "zero"
    )


def test_retire_keeps_history_and_the_id_taken(client: TestClient, h: Headers) -> None:
    blocked = client.delete("/v1/techniques/lora", headers=h())
    assert blocked.status_code == 409
    assert blocked.json()["children"] == ["qlora", "dora"]
    response = client.delete("/v1/techniques/peft", headers=h(reason="Library, not a technique"))
    assert response.status_code == 200, response.text
    kinds = [(c["op"], c["kind"]) for c in response.json()["changes"]]
    assert kinds[0] == ("retire", "technique")
    assert kinds.count(("retire", "cell")) == 9
    cells = [c["id"] for c in response.json()["changes"] if c["kind"] == "cell"]
    assert cells == [f"{sc}/peft" for sc in SCENARIO_IDS]  # in display order
    assert client.get("/v1/techniques/peft").status_code == 404
    assert "peft" not in [t["id"] for t in client.get("/v1/techniques").json()["items"]]
    assert len(client.get("/v1/matrix").json()["cells"]) == (len(TECHNIQUE_IDS) - 1) * len(
        SCENARIO_IDS
    )
    assert client.get("/v1/techniques/peft", params={"at": CURRENT}).status_code == 200
    again = client.post(
        "/v1/techniques",
        json={"id": "peft", "name": "PEFT", "category": "library"},
        headers=h(rev=CURRENT + 1),
    )
    assert again.status_code == 409
    assert "never reused" in again.json()["detail"]


def test_scenarios_are_written_the_same_way(client: TestClient, h: Headers) -> None:
    created = client.post(
        "/v1/scenarios",
        json={"id": "long-context", "title": "Fine-tuning for long context", "kind": "task"},
        headers=h(),
    )
    assert created.status_code == 201, created.text
    clash = client.post(
        "/v1/scenarios",
        json={"id": "qa-2", "title": "Fine-tuning for QA tasks", "kind": "task"},
        headers=h(rev=CURRENT + 1),
    )
    assert clash.status_code == 409
    updated = client.patch(
        "/v1/scenarios/long-context",
        json={"description": "Longer inputs."},
        headers=h(rev=CURRENT + 1),
    )
    assert updated.status_code == 200
    assert updated.json()["changes"][0]["after"] == {"description": "Longer inputs."}
    retired = client.delete("/v1/scenarios/long-context", headers=h(rev=CURRENT + 2))
    assert retired.status_code == 200
    assert client.get("/v1/scenarios/long-context").status_code == 404
    assert client.get("/v1/scenarios/long-context", params={"at": CURRENT + 2}).status_code == 200


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"id": "Bad Id", "name": "x", "category": "adapter"}, "body.id"),
        ({"id": "x1", "name": "x", "category": "magic"}, "body.category"),
        ({"id": "x1", "name": "x", "category": "adapter", "colour": "red"}, "body.colour"),
        ({"id": "x1", "category": "adapter"}, "body.name"),
    ],
)
def test_bad_technique_bodies_are_422(
    client: TestClient, h: Headers, body: dict[str, Any], location: str
) -> None:
    response = client.post("/v1/techniques", json=body, headers=h())
    assert response.status_code == 422
    assert location in [e["location"] for e in response.json()["errors"]]


def test_alias_collisions_are_409(client: TestClient, h: Headers) -> None:
    response = client.post(
        "/v1/techniques",
        json={"id": "qlora2", "name": "Q", "category": "adapter", "aliases": ["DORA"]},
        headers=h(),
    )
    assert response.status_code == 409
    assert response.json()["conflicting"] == "dora"
    cycle = client.patch("/v1/techniques/lora", json={"parent": "qlora"}, headers=h())
    assert cycle.status_code == 422


def test_audit_log_filters_and_pages(client: TestClient, h: Headers, admin_key: str) -> None:
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())  # stale: 412
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"})  # no key: 401
    auth_header = {"Authorization": f"Bearer {admin_key}"}
    client.post("/v1/admin/keys", json={"name": "bot", "scope": "read"}, headers=auth_header)
    everything = audit_rows(client, admin_key)
    assert [(r["action"], r["status"]) for r in everything] == [
        ("create_api_key", 201),
        ("set_cell", 401),
        ("set_cell", 412),
        ("set_cell", 200),
    ]
    assert "bot" in everything[0]["detail"]
    assert [r["status"] for r in audit_rows(client, admin_key, outcome="refused")] == [401, 412]
    assert [r["status"] for r in audit_rows(client, admin_key, key="curator")] == [412, 200]
    assert len(audit_rows(client, admin_key, action="set_cell", status=412)) == 1
    first = everything[-1]["created_at"]
    assert len(audit_rows(client, admin_key, since=first)) == 4
    assert audit_rows(client, admin_key, until=first) == []
    page = client.get(
        "/v1/admin/audit", params={"limit": 2, "offset": 1}, headers=auth_header
    ).json()
    assert (page["total"], [r["status"] for r in page["items"]]) == (4, [401, 412])
    bad = client.get("/v1/admin/audit", params={"outcome": "maybe"}, headers=auth_header)
    assert bad.status_code == 422


def test_request_id_is_echoed_and_recorded(client: TestClient, h: Headers, admin_key: str) -> None:
    response = client.put(
        "/v1/matrix/qa-tasks/lora",
        json={"support": "no"},
        headers=h() | {"X-Request-ID": "ci-run-42"},
    )
    assert response.headers["x-request-id"] == "ci-run-42"
    assert audit_rows(client, admin_key)[0]["request_id"] == "ci-run-42"
    generated = client.get("/v1/matrix").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/v1/matrix", headers={"X-Request-ID": "bad id\\n"})
    assert unsafe.headers["x-request-id"] != "bad id\\n"


def test_nul_characters_are_refused_not_stored(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    response = client.put(
        "/v1/matrix/qa-tasks/lora", json={"support": "no", "note": "a\u0000b"}, headers=h()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "body.note"
    bad_key = client.put(
        "/v1/pairs/lora/fsdp", json={"verdict": "unknown", "versions": {"a\u0000": ">=1"}},
        headers=h(),
    )  # fmt: skip
    assert bad_key.status_code == 422
    junk = client.put("/v1/matrix/qa-tasks/lora", json={"\u0000": None}, headers=h())
    assert junk.status_code == 422
    assert [r["status"] for r in audit_rows(client, admin_key)] == [422, 422, 422]
