"""ASGI middleware: request ids, body limit, security headers, metrics, access log, audit.

Accepted writes record their audit row inside their own transaction (atomic with the data);
this layer records the attempts that wrote nothing, after the response is known, in a separate
transaction, so refusals (401, 403, 409, 412, 422, ...) are never lost with a rollback.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge
from service.web.access import AccessLog
from service.web.context import RequestState, attach
from service.web.metrics import Metrics
from service.web.routing import is_read_only_post

log = logging.getLogger("ftmatrix.audit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# Swagger UI and ReDoc run inline bootstrap scripts and ReDoc starts a blob: worker.
DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'",
)
DOCS_PATHS = ("/docs", "/redoc", "/static/")
# The human pages (service.pages) load their scripts and styles as files, never inline.
PAGES_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    b"frame-ancestors 'none'",
)
PAGES_PATHS = (
    "/cells/", "/diff", "/techniques", "/pairs", "/check", "/where", "/estimate", "/models",
)  # fmt: skip


_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def next_request_id() -> str:
    """A unique request id: a random per-process prefix and a counter (no syscall per call)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def request_id_or_new(given: bytes) -> str:
    """The caller's X-Request-ID value when it is sane, else a fresh id."""
    candidate = given.decode("latin-1")
    return candidate if candidate and REQUEST_ID.match(candidate) else next_request_id()


def request_id_from(scope: Scope) -> str:
    """The request's id: its X-Request-ID header when sane, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return request_id_or_new(bytes(value))
    return next_request_id()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class AttemptFields:
    """What the audit log records of a write attempt that did not record itself."""

    key_name: str | None
    action: str
    target: str
    status: int
    request_id: str
    client: str | None
    dry_run: bool
    detail: str


class RequestContext:
    """Per request: an id (echoed as X-Request-ID), a body limit, security headers, a metric,
    one JSON log line, and the audit row of a write that did not record its own (through
    `record`, which create_app hands in, so this layer knows no audit table)."""

    def __init__(
        self,
        app: ASGIApp,
        record: Callable[[AttemptFields], None] | None,
        metrics: Metrics,
        max_body_bytes: int,
        access: AccessLog,
    ) -> None:
        self.app = app
        self.record = record
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        state = attach(scope, request_id)
        status = 500
        path = scope["path"]
        csp = (
            DOCS_CSP if path.startswith(DOCS_PATHS)
            else PAGES_CSP if path == "/" or path.startswith(PAGES_PATHS)
            else API_CSP
        )  # fmt: skip

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                headers.append(csp)
                message = {**message, "headers": headers}
            await send(message)

        received = 0
        limit = self.max_body_bytes

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(
                        f"The request body is larger than {limit} bytes.", max_bytes=limit
                    )
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await self._too_large(scope, send_wrapped, limit)
            else:
                await self.app(scope, receive_limited, send_wrapped)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, elapsed)
            self.access.write(
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=status,
                duration=elapsed,
                request_id=request_id,
                client=scope["client"][0] if scope.get("client") else None,
                key=state.key_name,
            )
            if (
                scope["method"] in WRITE_METHODS
                and not is_read_only_post(scope)
                and not state.audited
                and self.record is not None
            ):
                await self._audit(scope, state, status)

    @staticmethod
    async def _too_large(scope: Scope, send: Send, limit: int) -> None:
        problem = PayloadTooLarge(
            f"The request body is larger than {limit} bytes.", max_bytes=limit
        ).to_problem(scope["path"])
        body = json.dumps(problem).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _audit(self, scope: Scope, state: RequestState, status: int) -> None:
        if not scope["path"].startswith("/v1/") or (status == 404 and scope.get("route") is None):
            return  # not an API write: nothing to attribute
        route = scope.get("route")
        client = scope.get("client")
        attempt = AttemptFields(
            key_name=state.key_name,
            action=getattr(route, "name", None) or f"{scope['method']} {scope['path']}",
            target=scope["path"],
            status=status,
            request_id=state.request_id,
            client=client[0] if client else None,
            dry_run=state.dry_run,
            detail=state.problem,
        )
        record = self.record
        assert record is not None
        try:
            await run_in_threadpool(record, attempt)
        except Exception:
            # The response is gone; the refusal must not go unrecorded: log every field.
            log.exception("could not audit a write attempt", extra={"audit": asdict(attempt)})
