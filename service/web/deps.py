"""FastAPI dependencies, each defined once as an `Annotated` alias.

Every dependency here is `async def`: FastAPI runs a plain `def` dependency in a worker thread,
a hop that costs more than anything these do (none of them waits on I/O)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.models import MAX_INT
from service.snapshot import Snapshot, SnapshotStore
from service.web import routing
from service.web.auth import key_gate
from service.web.revision import remember, seen_in
from service.wire import unstorable

T = TypeVar("T")


def etag_for(revision: int, variant: str | None = None) -> str:
    """The strong entity tag of a representation read from `revision`: `"rev-N"` for JSON,
    `"rev-N-<variant>"` for another representation of the same resource (e.g. csv)."""
    return f'"rev-{revision}-{variant}"' if variant else f'"rev-{revision}"'


async def get_store(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.store
    return store


StoreDep = Annotated[SnapshotStore, Depends(get_store)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def run_read(snap: Snapshot, work: Callable[[], T], *, lines: bool = False) -> T:
    """`work()`, which reads `snap` and may read its cells: right here on the event loop when
    the snapshot holds its cells (nothing to wait for, no thread hop), else in a worker thread
    (the cells come from the database). With `lines`, `work` reads cells only through
    `get`, `row` and `column`, which packed cells answer from memory too."""
    if snap.cells.in_memory or (lines and snap.cells.lines_in_memory):
        return work()
    return await run_in_threadpool(work)


async def prepared_parts(
    snap: Snapshot, key: Hashable, parts: Callable[[], Iterable[bytes]]
) -> Iterator[bytes]:
    """The document `parts()` writes from `snap`, rendered once per snapshot and `key`, for
    `service.web.routing.send_parts`.

    `key` names the document completely (route, representation, query). A document rendered
    before comes back at once; otherwise it is rendered in a worker thread (it may read
    cells) and kept when it is small enough to be sent whole. A larger one comes back as its
    first pieces, past the streaming threshold, and the rest still to be read: `send_parts`
    then streams it, reading the rest in a worker thread. An error of `parts()` propagates
    and keeps nothing.
    """
    found = snap.prepared.get(key)
    if found is not None:
        return iter((found,))

    def render() -> Iterator[bytes]:
        pieces = iter(parts())
        head: list[bytes] = []
        size = 0
        for piece in pieces:
            head.append(piece)
            size += len(piece)
            if size > routing.STREAM_AFTER_BYTES:  # read at call time: tests lower it
                return chain(head, pieces)
        body = b"".join(head)
        snap.prepared.put(key, body)
        return iter((body,))

    return await run_in_threadpool(render)


async def prepared_json(
    snap: Snapshot, response: Response, key: Hashable, build: Callable[[], BaseModel]
) -> Response:
    """The 200 that FastAPI would send for the model `build()` makes from `snap` (a route's
    `response_model`, serialized by alias), with the headers the dependencies set on
    `response`; the JSON is made once per snapshot and `key` and then sent as those bytes.

    `key` names the document completely (route and resolved ids). `build` runs as `run_read`
    runs it; its errors propagate and keep nothing.
    """
    body = snap.prepared.get(key)
    if body is None:
        model = await run_read(snap, build)
        body = model.model_dump_json(by_alias=True).encode()
        snap.prepared.put(key, body)
    return json_answer(body, response)


def json_answer(body: bytes, response: Response) -> Response:
    """The 200 (or `response`'s status) carrying `body`, JSON a route's `response_model`
    serializes to, with the headers the dependencies set on `response`: what FastAPI would
    send for the model, without validating it again."""
    answer = Response(body, status_code=response.status_code or 200, media_type="application/json")
    # As FastAPI adds them to the response it makes: after the body's own headers.
    answer.headers.raw.extend(response.headers.raw)
    return answer


@dataclass(frozen=True, slots=True)
class Reads:
    """Runs a service function on a connection, in a worker thread (the one read seam)."""

    engine: Engine

    async def run(self, query: Callable[[Connection], T]) -> T:
        """`query(conn)` on a connection of its own, off the event loop."""

        def read() -> T:
            with self.engine.connect() as conn:
                return query(conn)

        return await run_in_threadpool(read)


async def get_reads(engine: EngineDep) -> Reads:
    return Reads(engine)


ReadsDep = Annotated[Reads, Depends(get_reads)]


async def page_limit(
    settings: SettingsDep,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_INT,
            description="Page size: at most FTM_MAX_PAGE_SIZE (1000 unless configured).",
        ),
    ] = 100,
) -> int:
    """The `limit` of a list, checked against the configured largest page."""
    if limit > settings.max_page_size:
        raise InvalidInput(
            f"Invalid value in query.limit: at most {settings.max_page_size} items a page.",
            errors=[
                {
                    "location": "query.limit",
                    "message": f"Input should be less than or equal to {settings.max_page_size}",
                    "type": "less_than_equal",
                    "input": limit,
                    "le": settings.max_page_size,
                }
            ],
        )
    return limit


Limit = Annotated[int, Depends(page_limit)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")]


async def newest_revision(request: Request) -> int:
    """The newest revision, from a look at the database that started after the request came
    (the fast path's, kept in the scope, or a new one, then kept for the key check)."""
    seen = seen_in(request.scope)
    if seen is None:
        seen = await key_gate(request).watch.current()
        remember(request.scope, seen)
    return seen.revision


async def read_snapshot(
    request: Request,
    store: StoreDep,
    response: Response,
    at: Annotated[
        int | None,
        Query(ge=1, le=MAX_INT, description="Read as of this revision instead of the newest one."),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(description="An ETag from an earlier read; 304 if the data has not changed."),
    ] = None,
) -> Snapshot:
    """The snapshot a read answers from; sets `ETag` and `X-Revision`.

    A snapshot in memory is answered on the event loop; only loading one (the first read of a
    revision) goes to a worker thread. `If-None-Match` is declared here for the OpenAPI
    document; service.web.fastpath answers it.
    """
    found: Snapshot | None
    if at is None:
        found = store.ready(await newest_revision(request))
        if found is None:
            found = await run_in_threadpool(store.current)  # as new as that look, or newer
    else:
        found = store.ready(at) or await run_in_threadpool(store.at, at)
    if found is None:
        latest = await run_in_threadpool(store.latest_revision)
        raise NotFound(
            f"Revision {at} does not exist; the newest is {latest}.",
            latest_revision=latest,
        )
    snap = found
    # A matching If-None-Match becomes a 304 in service.web.fastpath, once the read succeeded.
    response.headers["ETag"] = etag_for(snap.revision)
    response.headers["X-Revision"] = str(snap.revision)
    # The newest data may change at any time: revalidate (cheap, a 304). A past revision never
    # changes, so it may be cached for good.
    response.headers["Cache-Control"] = IMMUTABLE if at is not None else REVALIDATE
    return snap


SnapshotDep = Annotated[Snapshot, Depends(read_snapshot)]

REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"


def next_link(request: Request, response: Response, total: int, limit: int, offset: int) -> None:
    """Set an RFC 8288 `Link: <...>; rel="next"` when items remain after this page."""
    if offset + limit < total:
        url = request.url.include_query_params(limit=limit, offset=offset + limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


_DECLARED_QUERY: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def _reject_unstorable(request: Request) -> None:
    """422 naming the parameter for a NUL or a lone surrogate in the path or the query: no
    database stores them (PostgreSQL refuses NUL in text), so they cannot match anything."""
    params = chain(
        (("path", k, v) for k, v in request.path_params.items() if isinstance(v, str)),
        (("query", k, v) for k, v in request.query_params.multi_items()),
    )
    errors = [
        {"location": f"{where}.{name}", "message": why, "type": "string_unstorable"}
        for where, name, value in params
        if (why := unstorable(name) or unstorable(value))
    ]
    if errors:
        raise InvalidInput(
            f"{len(errors)} parameter(s) hold characters that cannot be stored or matched.",
            errors=errors[:20],
        )


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not declare: a typo is not silently ignored,
    and junk queries cannot fill the fast path's cache with copies of one answer. Also 422
    for a NUL or a lone surrogate in any path or query parameter."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _DECLARED_QUERY.get(id(route))
    if declared is None:
        declared = _DECLARED_QUERY[id(route)] = _query_names(dependant)
    _reject_unstorable(request)
    unknown = [name for name in request.query_params if name not in declared]
    if unknown:
        allowed = sorted(declared)
        raise InvalidInput(
            f"Unknown query parameter(s): {', '.join(map(repr, unknown))}.",
            errors=[
                {
                    "location": f"query.{name}",
                    "message": "This route has no such query parameter.",
                    "type": "extra_forbidden",
                    "allowed": allowed,
                }
                for name in unknown
            ],
            allowed=allowed,
        )
