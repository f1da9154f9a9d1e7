"""History routes: the list of revisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from service.config import get_settings
from service.deps import SnapshotDep, StoreDep
from service.history import schemas as s
from service.history import service
from service.http_errors import problem_responses
from service.routing import DocumentedRoute

router = APIRouter(prefix="/v1", tags=["history"], route_class=DocumentedRoute)


@router.get("/revisions", response_model=s.RevisionList, responses=problem_responses(404, 422))
async def list_revisions(
    store: StoreDep,
    snap: SnapshotDep,
    limit: Annotated[int, Query(ge=1, le=get_settings().max_page_size)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> s.RevisionList:
    """List revisions, newest first."""

    def read() -> s.RevisionList:
        with store.engine.connect() as conn:
            return service.list_revisions(conn, snap.revision, limit, offset)

    return await run_in_threadpool(read)
