"""Operations routes: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from functools import lru_cache

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from service.db import alembic_config, current_revision, schema_version
from service.errors import ServiceUnavailable
from service.web.deps import ReadsDep
from service.web.guard import RETRY_AFTER_S, database_unavailable, unavailable_detail
from service.web.metrics import Metrics
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute

router = APIRouter(tags=["operations"], route_class=DocumentedRoute)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    revision: int
    schema_version: str


@lru_cache(maxsize=1)
def schema_head() -> str:
    """The newest migration id shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or ""


@router.get("/healthz", response_model=Health)
async def get_health() -> Health:
    """Say the process is alive (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=problem_responses(503))
async def get_readiness(reads: ReadsDep) -> Readiness:
    """Say whether the database answers and its schema is at this code's newest migration.

    503 otherwise, with `reason`: `unreachable` (no connection), `unmigrated` (no schema: run
    `ftmatrix db upgrade`) or `outdated` (a schema older or newer than this code's).
    """

    def probe(conn: Connection) -> tuple[str | None, int]:
        return schema_version(conn), current_revision(conn)

    try:
        version, revision = await reads.run(probe)
    except SQLAlchemyError as exc:
        kind = database_unavailable(exc) or "unreachable"
        raise ServiceUnavailable(
            unavailable_detail(kind), reason=kind, headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None
    if version != schema_head():
        raise ServiceUnavailable(
            f"The database schema is at {version!r}, this code needs {schema_head()!r}: "
            "run `ftmatrix db upgrade`.",
            schema_version=version,
            expected=schema_head(),
            reason="outdated",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return Readiness(status="ready", revision=revision, schema_version=version)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def get_metrics(request: Request) -> PlainTextResponse:
    """Get request counts, latencies and the current revision in Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    try:
        revision: int | None = await run_in_threadpool(request.app.state.store.latest_revision)
    except SQLAlchemyError:
        revision = None
    return PlainTextResponse(
        metrics.render(revision), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
