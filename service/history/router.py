"""History routes: the list of revisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from service.history import schemas as s
from service.history import service
from service.models import MAX_INT
from service.web.auth import reader
from service.web.deps import Limit, Offset, ReadsDep, SnapshotDep, next_link
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute

router = APIRouter(
    prefix="/v1", tags=["history"], route_class=DocumentedRoute, dependencies=[Depends(reader)]
)


@router.get("/revisions", response_model=s.RevisionList, responses=problem_responses(404, 422))
async def list_revisions(
    request: Request,
    response: Response,
    reads: ReadsDep,
    snap: SnapshotDep,
    limit: Limit,
    offset: Offset = 0,
) -> s.RevisionList:
    """List revisions, newest first."""
    found = await reads.run(lambda conn: service.list_revisions(conn, snap.revision, limit, offset))
    next_link(request, response, found.total, limit, offset)
    return found


@router.get(
    "/revisions/{number}", response_model=s.RevisionDetail, responses=problem_responses(404, 422)
)
async def get_revision(
    reads: ReadsDep,
    snap: SnapshotDep,
    number: Annotated[int, Path(ge=1, le=MAX_INT, description="The revision number.")],
) -> s.RevisionDetail:
    """Get one revision with its author, reason and diff."""
    return await reads.run(lambda conn: service.get_revision(conn, number, snap.revision))


@router.get("/changes", response_model=s.ChangeFeed, responses=problem_responses(404, 422))
async def list_changes(
    reads: ReadsDep,
    snap: SnapshotDep,
    limit: Limit,
    since: Annotated[
        int, Query(ge=0, le=MAX_INT, description="The last revision you have seen.")
    ] = 0,
) -> s.ChangeFeed:
    """List the revisions after `since` with their diffs, oldest first (the sync feed)."""
    return await reads.run(lambda conn: service.changes_since(conn, since, snap.revision, limit))
