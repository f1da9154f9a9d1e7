"""FastAPI dependencies, each defined once as an `Annotated` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.errors import NotFound
from service.snapshot import Snapshot, SnapshotStore


class NotModified(Exception):
    """Raised to answer 304: the client's cached representation is still current."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def etag_for(revision: int) -> str:
    """The entity tag of every representation read from `revision`."""
    return f'"rev-{revision}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """True when an If-None-Match / If-Match header lists `etag` (or `*`)."""
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def get_store(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.store
    return store


StoreDep = Annotated[SnapshotStore, Depends(get_store)]


async def read_snapshot(
    store: StoreDep,
    response: Response,
    at: Annotated[
        int | None,
        Query(ge=1, description="Read as of this revision instead of the newest one."),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(description="An ETag from an earlier read; 304 if the data has not changed."),
    ] = None,
) -> Snapshot:
    """The snapshot a read answers from; sets `ETag` and answers 304 when the client is current."""
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
    etag = etag_for(snap.revision)
    if etag_matches(if_none_match, etag):
        raise NotModified(etag)
    response.headers["ETag"] = etag
    response.headers["X-Revision"] = str(snap.revision)
    return snap


SnapshotDep = Annotated[Snapshot, Depends(read_snapshot)]
