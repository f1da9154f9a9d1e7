"""The one input rule (no NUL, no lone surrogate, no unknown field) and the configured page size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.wire import first_unstorable, unstorable
from tests.helpers import Headers, audit_rows
from tests.published import CURRENT

# A lone surrogate cannot be written by json.dumps from a str; send the JSON text as bytes.
LONE = b'"\\ud800"'
JSON = {"content-type": "application/json"}


def test_unstorable_names_nul_and_lone_surrogates() -> None:
    assert unstorable("plain text, even \u00e9 and \U0001f600") is None
    assert unstorable("a\x00b") == "NUL (\\u0000) is not allowed"
    assert unstorable("\udc80") == "a lone UTF-16 surrogate (\\udc80) is not allowed"
    nested = {"ok": ["fine", {"deep\x00key": 1}]}
    assert first_unstorable(nested, "body") == ("body.ok.1", "NUL (\\u0000) is not allowed")


def test_a_lone_surrogate_in_a_check_is_a_422_naming_the_field(client: TestClient) -> None:
    body = b'{"techniques": [{"id": "lora"}, {"id": ' + LONE + b"}]}"
    response = client.post("/v1/checks", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any("surrogate" in e["message"] for e in problem["errors"]), problem
    assert any(e["location"].startswith("body.techniques.1") for e in problem["errors"]), problem


def test_a_nul_in_a_write_is_a_422_and_changes_nothing(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    before = client.get("/v1/matrix/qa-tasks/lora").json()
    response = client.put(
        "/v1/matrix/qa-tasks/lora",
        json={"support": "yes", "note": "bad\x00note"},
        headers=h(),
    )
    assert response.status_code == 422, response.text
    assert "NUL" in response.text
    assert client.get("/v1/matrix/qa-tasks/lora").json() == before
    assert client.get("/v1/revisions").json()["items"][0]["number"] == CURRENT
    refused = audit_rows(client, admin_key, outcome="refused")
    assert refused[0]["status"] == 422


def test_a_surrogate_in_a_mapping_key_is_refused(client: TestClient) -> None:
    body = (
        b'{"techniques": [{"id": "lora"}, {"id": "zero-2"}], "libraries": {'
        + LONE
        + b': {"version": "0.10.0"}}}'
    )
    response = client.post("/v1/checks", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["location"].startswith("body.libraries")


@pytest.fixture
def small_pages(database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, max_page_size=3))
    with TestClient(app) as client:
        yield client


def test_the_page_size_comes_from_settings(small_pages: TestClient) -> None:
    assert small_pages.get("/v1/techniques?limit=3").status_code == 200
    response = small_pages.get("/v1/techniques?limit=4")
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["location"] == "query.limit"
    assert problem["errors"][0]["le"] == 3
    assert small_pages.get("/v1/revisions?limit=4").status_code == 422


def test_a_surrogate_in_a_bulk_json_patch_is_refused(client: TestClient, h: Headers) -> None:
    body = (
        b'{"cells": [{"scenario": "qa-tasks", "technique": "lora", "support": "yes", "note": '
        + LONE
        + b"}]}"
    )
    response = client.patch("/v1/matrix", content=body, headers={**h(), **JSON})
    assert response.status_code == 422, response.text
    assert "surrogate" in response.text
    assert client.get("/v1/revisions").json()["items"][0]["number"] == CURRENT


@pytest.mark.parametrize(
    "alias",
    ["l\u043era", "\uff4c\uff4f\uff52\uff41", "LoR\u0391"],  # Cyrillic o, full-width, Greek A
)
def test_look_alike_aliases_are_refused_on_write(
    client: TestClient, h: Headers, alias: str
) -> None:
    newest = int(client.get("/v1/matrix").headers["x-revision"])
    response = client.post(
        "/v1/techniques",
        json={"id": "ia3", "name": "IA3", "category": "adapter", "aliases": [alias]},
        headers=h(rev=newest),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["location"].startswith("body.aliases")
    superscript = client.post(
        "/v1/techniques",
        json={"id": "ia3", "name": "IA3", "category": "adapter", "aliases": ["(IA)\u00b3 ok"]},
        headers=h(rev=newest),
    )
    assert superscript.status_code == 422  # a superscript 3 is a compatibility form of 3
    cyrillic_only = client.post(
        "/v1/techniques",
        json={
            "id": "ia4",
            "name": "IA4",
            "category": "adapter",
            "aliases": ["\u043b\u043e\u0440\u0430"],
        },
        headers=h(rev=newest),
    )
    assert cyrillic_only.status_code == 201, cyrillic_only.text  # one script is fine


def test_one_unstorable_source_among_many_cells_is_named(client: TestClient, h: Headers) -> None:
    # The writer searches all the cells' text at once; a hit is then located row by row.
    cells = [
        {"scenario": sc, "technique": t, "support": "yes", "note": "fine", "sources": ["a", "b"]}
        for sc in ("qa-tasks", "nlp-tasks", "reduce-memory")
        for t in ("lora", "qlora", "dora")
    ]
    cells[7]["sources"] = ["https://ok.example", "bad\u0000source"]
    response = client.patch("/v1/matrix", json={"cells": cells}, headers=h())
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"location": "body.sources.1", "message": "NUL (\\u0000) is not allowed"}
    ]
    assert client.get("/v1/revisions").json()["items"][0]["number"] == CURRENT
    cells[7]["sources"] = ["https://ok.example"]
    assert client.patch("/v1/matrix", json={"cells": cells}, headers=h()).status_code == 200
