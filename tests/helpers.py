"""Helpers for write tests: keys, write headers, audit rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import keys
from service.vocabulary import Scope

Headers = Callable[..., dict[str, str]]


def make_key(database_url: str, name: str, scope: Scope, days: int | None = None) -> str:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            return keys.create_key(conn, name, scope, days)
    finally:
        engine.dispose()


def audit_rows(client: TestClient, admin_key: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/admin/audit", params=params, headers={"Authorization": f"Bearer {admin_key}"}
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["items"]
    return rows
