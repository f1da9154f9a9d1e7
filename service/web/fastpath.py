"""Answer repeated reads from prepared bytes, before FastAPI's routing.

Every cacheable read of the newest revision (a GET under /v1/ or of a page, without `at`; POST
/v1/checks, which only reads) is answered once by the application; its status, headers and
body are kept, keyed by path, query, Accept, Origin, the caller's key scope and (for a check)
the body, and sent as they are to the next identical request; `If-None-Match` with its ETag
answers 304 at once. Static files with an ETag are kept too (they never change while the
process runs).

Correctness does not rest on a timer: every request first looks at the database, by a look
that starts after it arrived (`service.web.revision`: the newest revision and the keys'
generation), and only answers of the revision just seen are sent or kept. So no process
answers from an older revision once a write has been acknowledged anywhere.

With FTM_REQUIRE_READ_KEY, a hit goes only to a bearer key that `service.web.auth.KeyGate`
admits (verdicts cached per process, dropped when any key is written anywhere, expiry checked
at each use); any other request goes to the application, which answers its 401 or 403. Answers
are kept per key scope, so one made for a wider key never reaches a narrower or anonymous one.

A 200 of the application whose ETag the client sent in `If-None-Match` goes out as a 304.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import Unauthorized
from service.keys import Principal, Verdict, principal_of
from service.web.access import AccessLog, fixed_fields
from service.web.auth import KeyGate, bearer_in
from service.web.conditional import conditional, matches, not_modified_headers, without_body
from service.web.metrics import Metrics
from service.web.middleware import API_CSP, PAGES_PATHS, SECURITY_HEADERS, request_id_or_new
from service.web.revision import Seen, remember
from service.web.routing import READ_ONLY_POSTS

AT_PARAMETER = re.compile(rb"(?:^|&)at=")  # time travel: immutable, rare, left to the app
MAX_ENTRIES = 4096
MAX_BYTES = 128 * 1024 * 1024
MAX_ENTRY_BYTES = MAX_BYTES // 16  # larger answers are sent, not kept
MAX_CHECK_BODY = 64 * 1024
STATIC_PREFIX = "/static/"
# A static file's answer to these depends on more than the path (a range, a date): the app's.
_STATIC_CONDITIONS = frozenset({b"range", b"if-range", b"if-modified-since"})


# GETs that read the newest revision (the API, the human pages; and `/` itself), and the
# static files: what this layer prepares.
_PREFIXES = ("/v1/", *PAGES_PATHS, STATIC_PREFIX)


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


Found = tuple[Seen, Principal | None, tuple[Any, ...], Prepared | None] | None
"""What `FastReads._judge` found: the look, the caller, the cache key, the prepared answer."""


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


class FastReads:
    """The layer in front of the application stack: serves prepared responses for the newest
    revision.

    A hit is answered here in full (request id, metric, access line); everything else goes to
    `app`, the whole application stack, and a cacheable 200 it returns is kept. `hits` and
    `misses` count the cacheable requests answered here and by the application.
    """

    def __init__(
        self,
        app: ASGIApp,
        gate: KeyGate,
        metrics: Metrics,
        access: AccessLog,
        enabled: bool = True,
        require_key: bool = False,
    ) -> None:
        self.app = app
        self.gate = gate
        self.watch = gate.watch
        # SQLite's look never waits: called directly, it saves a coroutine per request.
        self._now: Callable[[], Seen] | None = getattr(gate.watch, "now", None)
        self.metrics = metrics
        self.access = access
        self.enabled = enabled
        self.require_key = require_key
        self.cache: OrderedDict[tuple[Any, ...], Prepared] = OrderedDict()
        self.cached_bytes = 0
        self.cache_revision = -1
        self.hits = 0
        self.misses = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            # Every GET route answers HEAD (RFC 9110 9.3.2) with the GET's headers, cached or not.
            scope = {**scope, "method": "GET"}
            send = without_body(send)
            method = "GET"
        path = scope["path"]
        if method != "GET" or not self.enabled or not (path == "/" or path.startswith(_PREFIXES)):
            if method == "GET":
                inm = _header(scope, b"if-none-match")
                await self.app(scope, receive, conditional(inm, send) if inm else send)
            elif method == "POST" and self.enabled and path in READ_ONLY_POSTS:
                await self._check(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # A cacheable GET, handled here rather than in a method of its own: the hottest path.
        inm = accept = request_id = origin = authorization = b""
        static = path.startswith(STATIC_PREFIX)
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                inm = bytes(value)
            elif name == b"accept":
                accept = bytes(value)
            elif name == b"x-request-id":
                request_id = bytes(value)
            elif name == b"origin":
                origin = bytes(value)
            elif name == b"authorization":
                authorization = bytes(value)
            elif static and name in _STATIC_CONDITIONS:
                await self.app(scope, receive, conditional(inm, send))
                return
        query = scope["query_string"]
        if query and AT_PARAMETER.search(query):
            await self.app(scope, receive, conditional(inm, send))
            return
        started = time.perf_counter()  # the database look is part of the answer
        seen: Seen | None = None
        caller: Principal | None = None
        if not static:  # static files are public and the same in every revision: no look
            seen = self._now() if self._now is not None else await self.watch.current()
        # The CORS headers of an answer depend on the Origin that asked (RFC 6454): each origin
        # (and none) gets its own prepared answer; so does each key scope.
        if seen is None or not (authorization or self.require_key):
            if seen is not None:  # an anonymous open read: `_judge`'s first case, inlined
                self._at(seen)
            key: tuple[Any, ...] = ("GET", path, query, accept, origin, "")
            hit = self.cache.get(key)
        else:
            base = ("GET", path, query, accept, origin)
            found = self._judge(scope, seen, base, authorization)
            if isinstance(found, str):
                found = await self._with_verdict(found, scope, seen, base, authorization)
            if found is None:
                await self.app(scope, receive, conditional(inm, send))
                return
            seen, caller, key, hit = found
        if hit is not None:
            not_modified = bool(inm) and matches(inm, hit.etag)
            await self._send_prepared(hit, scope, send, not_modified, caller, request_id, started)
            return
        await self._serve(key, seen, scope, receive, conditional(inm, send))

    async def _with_verdict(
        self, token: str, scope: Scope, seen: Seen, base: tuple[Any, ...], authorization: bytes
    ) -> Found:
        """`_judge` again, once the gate has a verdict on `token` (a key not yet judged in this
        process, or not since the last key write)."""
        verdict = await self.gate.verdict(token, seen)
        found = self._judge(scope, seen, base, authorization, verdict)
        return None if isinstance(found, str) else found

    def _judge(
        self,
        scope: Scope,
        seen: Seen,
        base: tuple[Any, ...],
        authorization: bytes,
        verdict: Verdict | None = None,
    ) -> Found | str:
        """Judge the caller and find the answer prepared for them at the revision `seen`:
        (the look, the key's principal or None for an anonymous reader, the cache key, the
        answer if prepared). None when only the application may answer: a key is required and
        none is admitted (the look is then kept in the scope for its own key check). The bearer
        token when the gate has no verdict on it yet (see `_with_verdict`).

        Where reads are open, an answer prepared for an anonymous request is everyone's, so it
        is sent without judging the key at all; a request whose key is refused (or is not a
        bearer key) counts as anonymous too, as open reads ignore the key.
        """
        self._at(seen)
        if not self.require_key:
            key = (*base, "")
            hit = self.cache.get(key)
            if hit is not None or not authorization:
                return seen, None, key, hit
        principal = None
        token = bearer_in(authorization.decode("latin-1")) if authorization else None
        if token is not None:
            verdict = verdict or self.gate.cached(token, seen)
            if verdict is None:
                return token
            try:  # not contextlib.suppress: a try costs nothing when nothing is raised
                principal = principal_of(verdict, time.time())
            except Unauthorized:
                principal = None
        if principal is None and self.require_key:
            remember(scope, seen)
            return None
        key = (*base, principal.scope if principal else "")
        return seen, principal, key, self.cache.get(key)

    def _at(self, seen: Seen) -> None:
        """Answer from the revision just seen: prepared answers of any other are dropped."""
        if seen.revision != self.cache_revision:
            self.cache.clear()
            self.cached_bytes = 0
            self.cache_revision = seen.revision

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

        # The query (`at=N`, a format) and Accept choose the answer as the body does.
        base = (
            "POST",
            scope["path"],
            scope["query_string"],
            _header(scope, b"accept"),
            _header(scope, b"content-type"),
            _header(scope, b"origin"),
            body,
        )
        authorization = _header(scope, b"authorization")
        seen = self._now() if self._now is not None else await self.watch.current()
        found = self._judge(scope, seen, base, authorization)
        if isinstance(found, str):
            found = await self._with_verdict(found, scope, seen, base, authorization)
        if found is None:
            await self.app(scope, replay, send)
            return
        _, caller, key, hit = found
        if hit is not None:
            await self._send_prepared(hit, scope, send, False, caller)
            return
        await self._serve(key, seen, scope, replay, send)

    async def _serve(
        self, key: tuple[Any, ...], seen: Seen | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer through the application and keep a 200 read from the revision `seen` (None:
        a static file, kept when it has an ETag)."""
        self.misses += 1
        revision = None
        if seen is not None:
            remember(scope, seen)
            revision = seen.revision
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
        etag = next((v for k, v in headers if k == b"etag"), b"")
        if revision is None:
            if not etag:
                return
        else:
            served = next((v for k, v in headers if k == b"x-revision"), b"")
            if served != str(revision).encode() or revision != self.cache_revision:
                return  # answered from another revision (a write landed meanwhile): do not keep
        body = b"".join(parts)
        kept = [(k, v) for k, v in headers if k != b"x-request-id"]
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        csp = next(((k, v) for k, v in kept if k == API_CSP[0]), API_CSP)
        self.cache[key] = Prepared(
            revision if revision is not None else self.cache_revision,
            kept,
            body,
            template,
            fixed_fields(scope["method"], scope["path"], template, 200),
            etag,
            fixed_fields(scope["method"], scope["path"], template, 304),
            [*not_modified_headers(kept), *SECURITY_HEADERS, csp],
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
        caller: Principal | None,
        given_id: bytes | None = None,
        started: float | None = None,
    ) -> None:
        if started is None:
            started = time.perf_counter()
        if given_id is None:
            given_id = _header(scope, b"x-request-id")
        self.hits += 1
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
        key_name = caller.name if caller else None
        self.access.write_fixed(
            fields, elapsed, request_id, client[0] if client else None, key_name
        )
