"""FastAPI dependencies, each defined once as an `Annotated` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.errors import NotFound
from service.models import MAX_INT
from service.snapshot import Snapshot, SnapshotStore


def etag_for(revision: int) -> str:
    """The entity tag of every representation read from `revision`."""
    return f'"rev-{revision}"'


def get_store(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.store
    return store


StoreDep = Annotated[SnapshotStore, Depends(get_store)]


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
    return snap


SnapshotDep = Annotated[Snapshot, Depends(read_snapshot)]
