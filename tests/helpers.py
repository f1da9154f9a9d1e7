"""Helpers for write tests: keys, write headers, audit rows; the app's snapshot store, and the
statements a block runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import keys
from service.snapshot import SnapshotStore
from service.vocabulary import Scope
from service.web.fastpath import FastReads

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


def revision_with_reason(client: TestClient, start: str) -> int:
    """The number of the one revision whose reason starts with `start` (a data migration takes
    the next free number, so tests find its revision by its reason)."""
    items = client.get("/v1/revisions", params={"limit": 100}).json()["items"]
    [number] = [r["number"] for r in items if r["reason"].startswith(start)]
    return int(number)


def model_read(client: TestClient, ident: str, **params: Any) -> Any:
    """`GET /v1/models/{ident}`'s model, asserting a 200."""
    r = client.get(f"/v1/models/{ident}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["model"]


def fast_layer(client: TestClient) -> FastReads:
    """The fast path in front of the test client's application."""
    layer = client.app.fast  # type: ignore[attr-defined]
    assert isinstance(layer, FastReads)
    return layer


def comparable(response: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an answer, less its (per-request) request id."""
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, headers, response.content


_T = TypeVar("_T")


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run` in a thread of its own: a browser test of the same worker (Playwright's
    sync API) keeps an event loop running in the main thread, where asyncio.run refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def store_of(client: TestClient) -> SnapshotStore:
    """The app's snapshot store."""
    store: SnapshotStore = client.app.state.store  # type: ignore[attr-defined]
    return store


@contextmanager
def statements(engine: sa.Engine, table: str = "cell_version") -> Iterator[list[str]]:
    """The SQL statements on `table` run inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if table in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
