"""History routes: the list of revisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from service.config import get_settings
from service.history import schemas as s
from service.history import service
from service.models import MAX_INT
from service.web.auth import reader
from service.web.deps import SnapshotDep, StoreDep
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute

router = APIRouter(
    prefix="/v1", tags=["history"], route_class=DocumentedRoute, dependencies=[Depends(reader)]
)


@router.get("/revisions", response_model=s.RevisionList, responses=problem_responses(404, 422))
async def list_revisions(
    store: StoreDep,
    snap: SnapshotDep,
    limit: Annotated[int, Query(ge=1, le=get_settings().max_page_size)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> s.RevisionList:
    """List revisions, newest first."""

    def read() -> s.RevisionList:
        with store.engine.connect() as conn:
            return service.list_revisions(conn, snap.revision, limit, offset)

    return await run_in_threadpool(read)


@router.get(
    "/revisions/{number}", response_model=s.RevisionDetail, responses=problem_responses(404, 422)
)
async def get_revision(
    store: StoreDep,
    snap: SnapshotDep,
    number: Annotated[int, Path(ge=1, le=MAX_INT, description="The revision number.")],
) -> s.RevisionDetail:
    """Get one revision with its author, reason and diff."""

    def read() -> s.RevisionDetail:
        with store.engine.connect() as conn:
            return service.get_revision(conn, number, snap.revision)

    return await run_in_threadpool(read)


@router.get("/changes", response_model=s.ChangeFeed, responses=problem_responses(404, 422))
async def list_changes(
    store: StoreDep,
    snap: SnapshotDep,
    since: Annotated[
        int, Query(ge=0, le=MAX_INT, description="The last revision you have seen.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=get_settings().max_page_size)] = 100,
) -> s.ChangeFeed:
    """List the revisions after `since` with their diffs, oldest first (the sync feed)."""

    def read() -> s.ChangeFeed:
        with store.engine.connect() as conn:
            return service.changes_since(conn, since, snap.revision, limit)

    return await run_in_threadpool(read)
