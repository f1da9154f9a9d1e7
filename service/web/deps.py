"""FastAPI dependencies, each defined once as an `Annotated` alias."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.dependencies.models import Dependant
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.models import MAX_INT
from service.snapshot import Snapshot, SnapshotStore

T = TypeVar("T")


def etag_for(revision: int, variant: str | None = None) -> str:
    """The strong entity tag of a representation read from `revision`: `"rev-N"` for JSON,
    `"rev-N-<variant>"` for another representation of the same resource (e.g. csv)."""
    return f'"rev-{revision}-{variant}"' if variant else f'"rev-{revision}"'


def get_store(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.store
    return store


StoreDep = Annotated[SnapshotStore, Depends(get_store)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


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


def get_reads(engine: EngineDep) -> Reads:
    return Reads(engine)


ReadsDep = Annotated[Reads, Depends(get_reads)]


def page_limit(
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


async def read_snapshot(
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

    `If-None-Match` is declared here for the OpenAPI document; service.web.fastpath answers it.
    """
    if at is None:
        snap = await run_in_threadpool(store.current)
    else:
        found = await run_in_threadpool(store.at, at)
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


def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not declare: a typo is not silently ignored,
    and junk queries cannot fill the fast path's cache with copies of one answer."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _DECLARED_QUERY.get(id(route))
    if declared is None:
        declared = _DECLARED_QUERY[id(route)] = _query_names(dependant)
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
