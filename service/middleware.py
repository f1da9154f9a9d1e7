"""ASGI middleware: request ids, and the audit row of every refused or dry-run write.

Accepted writes record their audit row inside their own transaction (atomic with the data);
this layer records the attempts that wrote nothing, after the response is known, in a separate
transaction, so refusals (401, 403, 409, 412, 422, ...) are never lost with a rollback.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.history import audit

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestContext:
    """Tags each request with an id (echoed as X-Request-ID) and audits unrecorded writes."""

    def __init__(self, app: ASGIApp, engine: Callable[[], Engine]) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["method"] in WRITE_METHODS and not state.get("audited"):
                await self._audit(scope, state, status, request_id)

    async def _audit(self, scope: Scope, state: dict[str, object], status: int, rid: str) -> None:
        route = scope.get("route")
        client = scope.get("client")
        attempt = audit.Attempt(
            key_name=str(state["key_name"]) if state.get("key_name") else None,
            action=getattr(route, "name", None) or f"{scope['method']} {scope['path']}",
            target=scope["path"],
            status=status,
            request_id=rid,
            client=client[0] if client else None,
            dry_run=bool(state.get("dry_run")),
            detail=str(state.get("problem", "")),
        )

        def write() -> None:
            with self.engine().begin() as conn:
                audit.record(conn, attempt)

        await run_in_threadpool(write)
