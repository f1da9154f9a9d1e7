"""Contract fuzzing: schemathesis drives every operation of the committed OpenAPI document,
writes included (with an admin key), and no answer may be a 5xx or break the document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.config import PROJECT_ROOT, Settings
from tests.helpers import make_key

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_app(database_url: str) -> Iterator[tuple[Any, str]]:
    key = make_key(database_url, "fuzzer", "admin")
    app = create_app(Settings(database_url=database_url))
    with TestClient(app):  # runs the lifespan
        yield app, key


# The committed document is the contract (the served one equals it: tests/test_openapi.py).
schema = schemathesis.openapi.from_dict(
    json.loads((PROJECT_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_breaks_the_contract(case: Any, fuzz_app: tuple[Any, str]) -> None:
    app, key = fuzz_app
    # Each test builds its own app on its own database; point the operation's schema at it.
    case.operation.schema.app = app
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    case.call_and_validate(checks=CHECKS, app=app)
