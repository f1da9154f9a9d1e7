"""Answer repeated reads from prepared bytes, before FastAPI's routing.

Every cacheable read of the newest revision (GET under /v1/ without `at`, and POST /v1/checks,
which only reads) is answered once by the application; its status, headers and body are kept,
keyed by revision, path, query, Accept and (for a check) the request body, and sent as they
are to the next identical request. `If-None-Match` with the current ETag answers 304 at once.

Correctness does not rest on a timer: every request first asks the database which revision is
newest, by the cheapest means the backend has (SQLite: `PRAGMA data_version`, which changes
whenever another connection commits; otherwise one `max(number)` query). A response is kept
only if it was read from the revision that is newest at that moment, so no process answers from
an older revision once a write has been acknowledged anywhere.

This layer also answers conditional GETs for every read: a 200 whose ETag the client sent in
`If-None-Match` goes out as a 304 without a body (a hit costs no serialization at all).
"""

from __future__ import annotations

import mmap
import re
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.db import NEWEST_REVISION_SQL, current_revision
from service.web.access import AccessLog, fixed_fields
from service.web.metrics import Metrics
from service.web.middleware import API_CSP, SECURITY_HEADERS, request_id_or_new
from service.web.routing import READ_ONLY_POSTS

WAL_INDEX_HEADER = 48  # bytes of the first copy of the wal-index header
AT_PARAMETER = re.compile(rb"(?:^|&)at=")  # time travel: immutable, rare, left to the app
MAX_ENTRIES = 4096
MAX_BYTES = 128 * 1024 * 1024
MAX_ENTRY_BYTES = MAX_BYTES // 16  # larger answers are sent, not kept
MAX_CHECK_BODY = 64 * 1024


class RevisionWatch:
    """The newest revision number, asked of the database as cheaply as it allows.

    SQLite in WAL mode: every commit, from any process, rewrites the wal-index header at the
    start of the `-shm` file (its `iChange` counter, frame count and checksums; see
    https://www.sqlite.org/walformat.html). That header is mapped into memory and compared with
    the one seen at the last query: unchanged means no commit since, and costs a memory read.
    A changed (or torn) header only triggers the real query. `PRAGMA data_version` is the
    fallback when the file cannot be mapped; other databases get one `max(number)` query.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        url = engine.url
        database = url.database if url.get_backend_name() == "sqlite" else None
        self.sqlite_path = database if database and database != ":memory:" else None
        self._conn: sqlite3.Connection | None = None
        self._shm: mmap.mmap | None = None
        self._header = b""
        self._data_version = -1
        self._revision = -1

    def _open(self, path: str) -> sqlite3.Connection:
        # Autocommit, read-only use: each statement sees the latest commit. Kept open, so the
        # -shm file stays in place for the life of the process.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("SELECT 1 FROM revision LIMIT 1").fetchall()
        try:
            with open(f"{path}-shm", "rb") as shm:
                self._shm = mmap.mmap(shm.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self._shm = None  # not in WAL mode: fall back to PRAGMA data_version
        return conn

    def current(self) -> int:
        if self.sqlite_path is None:
            with self.engine.connect() as conn:
                return current_revision(conn)
        if self._conn is None:
            self._conn = self._open(self.sqlite_path)
        db = self._conn
        if self._shm is not None:
            header = self._shm[:WAL_INDEX_HEADER]
            if header == self._header:
                return self._revision
            # Header first, query second: a commit in between is seen again next time.
            self._header = header
        else:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return self._revision
            self._data_version = version
        row = db.execute(NEWEST_REVISION_SQL).fetchone()
        self._revision = int(row[0] or 0)
        return self._revision

    def close(self) -> None:
        if self._shm is not None:
            self._shm.close()
            self._shm = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A 200 answer as sent (less its request id), and the route template it came from."""

    revision: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str
    log_fields: str
    etag: bytes
    not_modified_fields: str
    not_modified_headers: list[tuple[bytes, bytes]]


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match == etag:  # the usual case: the client sends back the one ETag it got
        return True
    candidates = [part.strip().removeprefix(b"W/") for part in if_none_match.split(b",")]
    return etag in candidates or b"*" in candidates


# RFC 9110 15.4.5: a 304 carries the headers the 200 would have had that caches need.
_KEPT_ON_304 = frozenset({b"etag", b"vary", b"cache-control", b"x-revision", b"content-location"})


def not_modified_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of a 200 that its 304 repeats."""
    return [(k, v) for k, v in headers if k.lower() in _KEPT_ON_304]


def _without_body(send: Send) -> Send:
    """A HEAD answer: the GET's status and headers (Content-Length included), no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body"):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


def _conditional(if_none_match: bytes, send: Send) -> Send:
    """Turn a 200 whose ETag the client already holds into a 304 without a body."""
    if not if_none_match:
        return send
    not_modified = False

    async def send_conditional(message: Message) -> None:
        nonlocal not_modified
        if message["type"] == "http.response.start" and message["status"] == 200:
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            etag = next((v for k, v in headers if k == b"etag"), b"")
            if etag and _matches(if_none_match, etag):
                not_modified = True
                message = {"type": "http.response.start", "status": 304,
                           "headers": not_modified_headers(headers)}  # fmt: skip
        elif message["type"] == "http.response.body" and not_modified:
            if message.get("more_body"):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_conditional


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


class FastReads:
    """The outermost ASGI layer: serves prepared responses for the newest revision.

    A hit is answered here in full (request id, metric, access line); everything else goes to
    `app`, the whole application stack, and a cacheable 200 it returns is kept.
    """

    def __init__(
        self,
        app: ASGIApp,
        engine: Engine,
        metrics: Metrics,
        access: AccessLog,
        enabled: bool = True,
    ) -> None:
        self.app = app
        self.watch = RevisionWatch(engine)
        self.metrics = metrics
        self.access = access
        self.enabled = enabled
        self.cache: OrderedDict[tuple[Any, ...], Prepared] = OrderedDict()
        self.cached_bytes = 0
        self.cache_revision = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            # Every GET route answers HEAD (RFC 9110 9.3.2) with the GET's headers, cached or not.
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
            method = "GET"
        if method == "GET" and self.enabled and scope["path"].startswith("/v1/"):
            inm = accept = request_id = origin = b""
            for name, value in scope["headers"]:
                if name == b"if-none-match":
                    inm = bytes(value)
                elif name == b"accept":
                    accept = bytes(value)
                elif name == b"x-request-id":
                    request_id = bytes(value)
                elif name == b"origin":
                    origin = bytes(value)
            query = scope["query_string"]
            if not (query and AT_PARAMETER.search(query)):
                # The CORS headers of an answer depend on the Origin that asked (RFC 6454):
                # each origin (and none) gets its own prepared answer.
                key = ("GET", scope["path"], query, accept, origin)
                started = time.perf_counter()  # the revision check is part of the answer
                revision = self._revision()
                hit = self.cache.get(key)
                if hit is not None:
                    not_modified = bool(inm) and _matches(inm, hit.etag)
                    await self._send_prepared(hit, scope, send, not_modified, request_id, started)
                    return
                await self._serve(key, revision, scope, receive, _conditional(inm, send))
                return
            await self.app(scope, receive, _conditional(inm, send))
        elif method == "GET":
            inm = _header(scope, b"if-none-match")
            await self.app(scope, receive, _conditional(inm, send) if inm else send)
        elif method == "POST" and self.enabled and scope["path"] in READ_ONLY_POSTS:
            await self._check(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _reset(self) -> None:
        """Forget every prepared answer: the newest revision changed."""
        self.cache.clear()
        self.cached_bytes = 0
        self.cache_revision = self.watch.current()

    def _revision(self) -> int:
        if self.watch.current() != self.cache_revision:
            self._reset()
        return self.cache_revision

    async def _check(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _header(scope, b"content-length")
        if not length.isdigit() or int(length) > MAX_CHECK_BODY:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        key = (
            "POST",
            scope["path"],
            _header(scope, b"content-type"),
            _header(scope, b"origin"),
            body,
        )
        await self._serve(key, self._revision(), scope, replay, send)

    async def _serve(
        self, key: tuple[Any, ...], revision: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        hit = self.cache.get(key)
        if hit is not None:
            await self._send_prepared(hit, scope, send, False)
            return
        start: Message | None = None
        parts: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and size <= MAX_ENTRY_BYTES:
                # Past the size worth keeping, stop copying: a streamed document of any size
                # then passes through in bounded memory.
                body = message.get("body", b"")
                size += len(body)
                if size <= MAX_ENTRY_BYTES:
                    parts.append(body)
                else:
                    parts.clear()
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or start["status"] != 200 or size > MAX_ENTRY_BYTES:
            return
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
        served = next((v for k, v in headers if k == b"x-revision"), b"")
        if served != str(revision).encode() or revision != self.cache_revision:
            return  # answered from another revision (a write landed meanwhile): do not keep
        body = b"".join(parts)
        kept = [(k, v) for k, v in headers if k != b"x-request-id"]
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        fields = fixed_fields(scope["method"], scope["path"], template, 200)
        etag = next((v for k, v in kept if k == b"etag"), b"")
        not_modified_fields = fixed_fields(scope["method"], scope["path"], template, 304)
        self.cache[key] = Prepared(
            revision,
            kept,
            body,
            template,
            fields,
            etag,
            not_modified_fields,
            [*not_modified_headers(kept), *SECURITY_HEADERS, API_CSP],
        )
        self.cached_bytes += len(body)
        while len(self.cache) > MAX_ENTRIES or self.cached_bytes > MAX_BYTES:
            _, old = self.cache.popitem(last=False)
            self.cached_bytes -= len(old.body)

    async def _send_prepared(
        self,
        hit: Prepared,
        scope: Scope,
        send: Send,
        not_modified: bool,
        given_id: bytes | None = None,
        started: float | None = None,
    ) -> None:
        if started is None:
            started = time.perf_counter()
        if given_id is None:
            given_id = _header(scope, b"x-request-id")
        request_id = request_id_or_new(given_id)
        rid = (b"x-request-id", request_id.encode())
        if not_modified:
            status, fields = 304, hit.not_modified_fields
            await send({"type": "http.response.start", "status": 304,
                        "headers": [*hit.not_modified_headers, rid]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
        else:
            status, fields = 200, hit.log_fields
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*hit.headers, rid]})  # fmt: skip
            await send({"type": "http.response.body", "body": hit.body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(scope["method"], hit.route, status, elapsed)
        client = scope.get("client")
        self.access.write_fixed(fields, elapsed, request_id, client[0] if client else None, None)
