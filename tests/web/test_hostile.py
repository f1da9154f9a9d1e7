"""Hostile input, each case a test: bounded error answers, undeclared query parameters."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from service.web.problems import MAX_ALLOWED, MAX_ERRORS, bounded
from tests.helpers import Headers


def test_a_small_check_with_many_unknown_ids_gets_a_small_answer(client: TestClient) -> None:
    body = json.dumps({"techniques": [f"x{i}" for i in range(100)]}).encode()
    assert len(body) < 1024
    response = client.post("/v1/checks", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert len(response.content) < 64 * 1024
    problem = response.json()
    assert len(problem.get("errors", [])) <= MAX_ERRORS


def test_bounded_counts_what_it_leaves_out() -> None:
    problem = {
        "status": 422,
        "detail": "bad",
        "allowed": [f"id-{i}" for i in range(200)],
        "allowed_url": "/v1/techniques",
        "errors": [{"location": f"body.{i}", "allowed": list(range(80))} for i in range(45)],
    }
    out = bounded(problem)
    assert "allowed" not in out
    assert (out["allowed_count"], out["allowed_url"]) == (200, "/v1/techniques")
    assert len(out["errors"]) == MAX_ERRORS
    assert out["errors_total"] == 45
    assert all("allowed" not in e and e["allowed_count"] == 80 for e in out["errors"])
    short = bounded({"status": 404, "allowed": list(range(MAX_ALLOWED))})
    assert short["allowed"] == list(range(MAX_ALLOWED))


def test_a_huge_bulk_patch_gets_a_bounded_answer(client: TestClient, h: Headers) -> None:
    newest = int(client.get("/v1/matrix").headers["x-revision"])
    lines = ["scenario,technique,support"] + [f"nope-{i},lora,yes" for i in range(5000)]
    response = client.patch(
        "/v1/matrix",
        content="\n".join(lines).encode(),
        headers={**h(rev=newest), "content-type": "text/csv"},
    )
    assert response.status_code == 422
    assert len(response.content) < 64 * 1024
    problem = response.json()
    assert problem["errors_total"] >= 5000
    assert len(problem["errors"]) == MAX_ERRORS


@pytest.mark.parametrize("path", ["/v1/matrix?formt=csv", "/v1/techniques?bogus=1&limit=2"])
def test_undeclared_query_parameters_are_refused(client: TestClient, path: str) -> None:
    for _ in range(2):  # never cached
        response = client.get(path)
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["location"].startswith("query.")
        assert problem["errors"][0]["type"] == "extra_forbidden"
    assert "limit" in client.get("/v1/techniques?bogus=1").json()["allowed"]


def test_declared_query_parameters_still_work(client: TestClient) -> None:
    assert client.get("/v1/matrix?format=csv&scenario=qa-tasks&technique=lora").status_code == 200
    assert client.get("/v1/techniques?limit=2&offset=1&at=1").status_code == 200
    assert client.get("/v1/compatibility?technique=lora&technique=zero-2").status_code == 200


def test_each_origin_gets_its_own_cors_answer_whoever_asked_first(database_url: str) -> None:
    from service.app import create_app
    from service.config import Settings

    allowed = ["https://a.example", "https://b.example"]
    app = create_app(Settings(database_url=database_url, cors_origins=allowed))
    with TestClient(app) as client:
        for order in (allowed, list(reversed(allowed))):
            for origin in [*order, "https://evil.example", None]:
                headers = {"Origin": origin} if origin else {}
                for _ in range(2):  # the second is a fast-path hit
                    got = client.get("/v1/techniques", headers=headers)
                    assert got.status_code == 200
                    want = origin if origin in allowed else None
                    assert got.headers.get("access-control-allow-origin") == want, origin


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/v1/admin/audit?action=%00", "query.action"),
        ("/v1/admin/audit?key=a%00b", "query.key"),
        ("/v1/techniques?limit=5&kind=%00", "query.kind"),
    ],
)
def test_a_nul_in_a_parameter_is_a_422_naming_it(
    client: TestClient, admin_key: str, path: str, where: str
) -> None:
    # PostgreSQL refuses NUL in text: without this check the audit filter answered 500.
    response = client.get(path, headers={"Authorization": f"Bearer {admin_key}"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [e["location"] for e in errors] == [where]
    assert "NUL" in errors[0]["message"]


def test_a_nul_in_a_path_parameter_is_a_422_naming_it(client: TestClient, admin_key: str) -> None:
    response = client.delete(
        "/v1/admin/keys/a%00b", headers={"Authorization": f"Bearer {admin_key}"}
    )
    assert response.status_code == 422, response.text
    assert [e["location"] for e in response.json()["errors"]] == ["path.name"]
