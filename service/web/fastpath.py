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

import asyncio
import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import Unauthorized
from service.keys import Principal, Verdict, principal_of
from service.snapshot import Section
from service.web.access import AccessLog, fixed_fields
from service.web.auth import KeyGate, bearer_in
from service.web.conditional import conditional, matches, not_modified_headers, without_body
from service.web.metrics import Metrics
from service.web.middleware import API_CSP, PAGES_PATHS, SECURITY_HEADERS, request_id_or_new
from service.web.revision import Seen, remember
from service.web.routing import READ_ONLY_POSTS, declared_reads

AT_PARAMETER = re.compile(rb"(?:^|&)at=")  # time travel: immutable, rare, left to the app
MAX_ENTRIES = 4096
MAX_BYTES = 128 * 1024 * 1024
MAX_ENTRY_BYTES = MAX_BYTES // 16  # larger answers are sent, not kept
MAX_CHECK_BODY = 64 * 1024
FLIGHT_WAIT_S = 0.25  # how long a miss waits for the same answer another request prepares
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
    reads: frozenset[Section] | None = None
    """The parts of the snapshot the answer was made from (`service.web.routing.reads`), when
    its route declares them; None: computed again at every new revision."""


def _prepared(
    revision: int,
    kept: list[tuple[bytes, bytes]],
    body: bytes,
    template: str,
    log_fields: str,
    not_modified_fields: str,
    reads: frozenset[Section] | None,
) -> Prepared:
    etag = next((v for k, v in kept if k == b"etag"), b"")
    csp = next(((k, v) for k, v in kept if k == API_CSP[0]), API_CSP)
    return Prepared(
        revision,
        kept,
        body,
        template,
        log_fields,
        etag,
        not_modified_fields,
        [*not_modified_headers(kept), *SECURITY_HEADERS, csp],
        reads,
    )


def relabelled(old: Prepared, revision: int) -> Prepared | None:
    """`old`, an answer of revision `old.revision`, as the same answer of `revision`: the
    revision in its ETag, its X-Revision and the JSON document's leading `"revision"` member
    changed, and nothing else. None when the answer does not have exactly that form (then it
    is computed again)."""
    was, now = str(old.revision).encode(), str(revision).encode()
    head = b'{"revision":' + was + b","
    if not old.body.startswith(head):
        return None
    body = b'{"revision":' + now + b"," + old.body[len(head) :]
    kept: list[tuple[bytes, bytes]] = []
    for name, value in old.headers:
        if name == b"etag":
            if not value.startswith(b'"rev-' + was) or value[5 + len(was) : 6 + len(was)] not in (
                b'"',
                b"-",
            ):
                return None
            value = b'"rev-' + now + value[5 + len(was) :]
        elif name == b"x-revision":
            if value != was:
                return None
            value = now
        elif name == b"content-length":
            value = str(len(body)).encode()
        kept.append((name, value))
    return _prepared(
        revision,
        kept,
        body,
        old.route,
        old.log_fields,
        old.not_modified_fields,
        old.reads,
    )


@dataclass(slots=True)
class _Flight:
    """An answer the application is preparing for one cache key, from revision `revision`;
    `done` is set once it is kept (or will not be)."""

    revision: int | None
    done: asyncio.Event = field(default_factory=asyncio.Event)


Changes = Callable[[int, int], Awaitable[frozenset[Section] | None]]
"""`changes(before, after)`: the parts of the snapshot that differ between the two revisions,
or None when that is not known (then nothing is re-labelled)."""

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
        changes: Changes | None = None,
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
        self.write_lane = asyncio.Semaphore(2)
        self.changes = changes
        self.previous: OrderedDict[tuple[Any, ...], Prepared] = OrderedDict()
        """The answers of the revision before `cache_revision`, to be re-labelled or dropped."""
        self.relabels = 0
        self.flights: dict[tuple[Any, ...], _Flight] = {}
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
        await self._serve(key, seen, scope, receive, send, caller, inm, request_id, started)

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
        """Answer from the revision just seen: prepared answers of any other are no longer
        sent. Those of the revision before are set aside, to be re-labelled for this one
        where the revisions between did not change what they were made from (`_relabelled`)."""
        if seen.revision != self.cache_revision:
            newer = seen.revision > self.cache_revision
            self.previous = self.cache if newer and self.changes is not None else OrderedDict()
            self.cache = OrderedDict()
            self.cached_bytes = 0
            self.cache_revision = seen.revision

    async def _relabelled(self, key: tuple[Any, ...], revision: int) -> Prepared | None:
        """The answer for `key` set aside from the revision before, re-labelled for
        `revision` and kept, when its route declares what it reads and the snapshot of
        `revision` was patched from that revision's without changing any of it; else None
        (and the answer set aside is dropped)."""
        old = self.previous.get(key)
        if old is None or self.changes is None:
            return None
        fresh = None
        if old.reads is not None:
            changed = await self.changes(old.revision, revision)
            if changed is not None and not changed & old.reads:
                fresh = relabelled(old, revision)
        if self.previous.get(key) is old:
            del self.previous[key]
        if fresh is None or revision != self.cache_revision:
            return None  # not provably the same answer; or a newer revision was seen meanwhile
        self._put(key, fresh)
        self.relabels += 1
        return fresh

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
        await self._serve(key, seen, scope, replay, send, caller)

    async def _serve(
        self,
        key: tuple[Any, ...],
        seen: Seen | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        caller: Principal | None,
        inm: bytes = b"",
        request_id: bytes | None = None,
        started: float | None = None,
    ) -> None:
        """Answer a miss: from the answer another request is preparing for the same key at the
        same revision (waiting for it, briefly), or through the application, keeping a 200
        read from the revision `seen` (None: a static file, kept when it has an ETag)."""
        revision = seen.revision if seen is not None else None
        if revision is not None and self.previous:
            fresh = await self._relabelled(key, revision)
            if fresh is not None:
                not_modified = bool(inm) and matches(inm, fresh.etag)
                await self._send_prepared(
                    fresh, scope, send, not_modified, caller, request_id, started
                )
                return
        flight = self.flights.get(key)
        if flight is not None and flight.revision == revision:
            # The same answer is being prepared from the revision this request's own look saw:
            # wait for it rather than compute it again (after a write, every reader of a hot
            # answer misses at once). Bounded, so a slow client of the first cannot hold the
            # others: past the bound, this one goes to the application as before.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flight.done.wait(), FLIGHT_WAIT_S)
            hit = self.cache.get(key)
            if hit is not None and (revision is None or hit.revision == revision):
                not_modified = bool(inm) and matches(inm, hit.etag)
                await self._send_prepared(
                    hit, scope, send, not_modified, caller, request_id, started
                )
                return
            flight = None  # not kept in time (or not kept): answered by the application
        else:
            # Nothing in flight for this key, or another revision's answer (whose waiters
            # keep their own reference to it): this one is the answer to wait for now.
            flight = self.flights[key] = _Flight(revision)
        self.misses += 1
        if seen is not None:
            remember(scope, seen)
        start: Message | None = None
        parts: list[bytes] = []
        size = 0
        out = conditional(inm, send) if inm else send

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
                if not message.get("more_body") and start is not None:
                    # Whole: keep it before sending, so the requests waiting for it need not
                    # wait for this client to read it.
                    self._keep(key, revision, start, parts, size, scope)
                    if flight is not None:
                        flight.done.set()
            await out(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if flight is not None:
                flight.done.set()
                if self.flights.get(key) is flight:
                    del self.flights[key]

    def _keep(
        self,
        key: tuple[Any, ...],
        revision: int | None,
        start: Message,
        parts: list[bytes],
        size: int,
        scope: Scope,
    ) -> None:
        """Keep a whole answer of the application if it is a 200 of the revision `revision`
        (None: a static file, kept when it has an ETag)."""
        if start["status"] != 200 or size > MAX_ENTRY_BYTES:
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
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self._put(
            key,
            _prepared(
                revision if revision is not None else self.cache_revision,
                kept,
                body,
                template,
                fixed_fields(scope["method"], scope["path"], template, 200),
                fixed_fields(scope["method"], scope["path"], template, 304),
                declared_reads(route) if scope["method"] == "GET" else None,
            ),
        )

    def _put(self, key: tuple[Any, ...], answer: Prepared) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self.cached_bytes -= len(old.body)
        self.cache[key] = answer
        body = answer.body
        self.cached_bytes += len(body)
        while len(self.cache) > MAX_ENTRIES or self.cached_bytes > MAX_BYTES:
            _, evicted = self.cache.popitem(last=False)
            self.cached_bytes -= len(evicted.body)

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
