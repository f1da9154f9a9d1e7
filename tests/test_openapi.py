"""The committed OpenAPI document is the contract: it must equal what the app serves."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from service.cli import openapi_document
from service.config import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "openapi" / "openapi.json"


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_committed_document_matches_the_app() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_document(), (
        "openapi/openapi.json is stale: run `ftmatrix openapi` and commit the result"
    )


def test_served_document_matches_the_committed_one(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_every_operation_is_documented() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op["operationId"].split("_")[0] in {
            "get",
            "list",
            "create",
            "update",
            "delete",
            "set",
            "apply",
            "revert",
            "check",
            "revoke",
        }, where
        success = [code for code in op["responses"] if code.startswith("2")]
        if success == ["200", "201"]:  # a creating write: 201, or 200 for its dry run
            assert any(p["name"] == "dry_run" for p in op.get("parameters", [])), where
            success = ["201"]
        assert len(success) == 1, where
        content = op["responses"][success[0]]["content"]
        if path == "/metrics":
            assert list(content) == ["text/plain"]
        else:
            assert "$ref" in content["application/json"]["schema"], where
        errors = [code for code in op["responses"] if code.startswith(("4", "5"))]
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in errors, where
        for code in errors:
            content = op["responses"][code]["content"]
            assert list(content) == ["application/problem+json"], (where, code)


def test_summaries_are_the_first_docstring_line() -> None:
    import inspect

    from fastapi.routing import APIRoute

    from service.app import ROUTERS

    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    routes = [
        r
        for router in ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute) and r.include_in_schema  # the HTML pages are not in it
    ]
    assert routes
    for route in routes:
        for method in route.methods or ():
            op = doc["paths"][route.path][method.lower()]
            first_line = (inspect.getdoc(route.endpoint) or "").splitlines()[0]
            assert op["summary"] == first_line, route.path


def test_schema_names_are_unique_and_meaningful() -> None:
    """Two classes of one name become `service__pkg__schemas__Name`, which generated clients
    drop or mangle: every schema keeps its own class name."""
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    names = list(doc["components"]["schemas"])
    assert [n for n in names if "__" in n] == []
