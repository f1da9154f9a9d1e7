"""The outermost ASGI layer: refuses oversized request headers (431) and turns a database
that is unmigrated or unreachable into a 503 problem, whichever layer met it (the fast path
included), with a request id and `Retry-After`, never a bare 500.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from sqlalchemy import exc as sa_exc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PROBLEM_BASE
from service.web.middleware import API_CSP, SECURITY_HEADERS, request_id_from

log = logging.getLogger("ftmatrix.guard")

RETRY_AFTER_S = 5

_UNMIGRATED = ("no such table", "does not exist", "undefinedtable", "undefined table")


def database_unavailable(exc: BaseException) -> str | None:
    """`"unmigrated"` or `"unreachable"` when `exc` says the database cannot serve yet, else
    None. SQLite says "no such table"; PostgreSQL "relation ... does not exist"."""
    if isinstance(exc, sa_exc.DBAPIError):
        text = f"{type(exc.orig).__name__} {exc.orig}".lower()
        if any(marker in text for marker in _UNMIGRATED):
            return "unmigrated"
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return "unreachable"
        return None
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "unmigrated" if "no such table" in text else "unreachable"
    return None


def unavailable_detail(kind: str) -> str:
    """What a client (and an operator reading it) should know about an unready database."""
    if kind == "unmigrated":
        return "The database has no schema yet; an operator must run `ftmatrix db upgrade`."
    return "The database does not answer; retry shortly."


def _total_header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope.get("headers", ()))


class Guard:
    """Wraps the whole application (fast path, middleware, FastAPI)."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _total_header_bytes(scope) > self.max_header_bytes:
            await _problem(
                scope, send, 431, "request-header-fields-too-large",
                "Request header fields too large",
                f"The request's headers exceed {self.max_header_bytes} bytes in total.",
                max_bytes=self.max_header_bytes,
            )  # fmt: skip
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            kind = database_unavailable(exc)
            if kind is None or started:
                raise
            log.error("database %s on %s %s: %s", kind, scope["method"], scope["path"], exc)
            await _problem(
                scope, send, 503, "unavailable", "Service unavailable", unavailable_detail(kind),
                reason=kind,
            )  # fmt: skip


async def _problem(
    scope: Scope, send: Send, status: int, slug: str, title: str, detail: str, **extra: object
) -> None:
    request_id = request_id_from(scope)
    body = json.dumps(
        {
            "type": PROBLEM_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
            **extra,
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *SECURITY_HEADERS,
        API_CSP,
    ]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
    if status == 431:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
