"""Compatibility routes: pair facts, pair verdicts, plan checks, the data snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from service.compat import schemas as s
from service.compat import service
from service.snapshot import Section
from service.web.auth import reader
from service.web.deps import SnapshotDep, run_read
from service.web.problems import problem_responses
from service.web.routing import CHECKS_PATH, DocumentedRoute, reads, send_parts

router = APIRouter(
    prefix="/v1",
    tags=["compatibility"],
    route_class=DocumentedRoute,
    dependencies=[Depends(reader)],
)
TechniqueId = Annotated[str, Path(description="Technique id or alias.")]


@router.get("/pairs", response_model=s.PairList, responses=problem_responses(404, 422))
@reads(Section.PAIRS, Section.TECHNIQUES)
async def list_pairs(snap: SnapshotDep) -> s.PairList:
    """List the stored pair facts (pairs without one read as unknown)."""
    return service.pairs(snap)


@router.get(
    "/pairs/{technique_a}/{technique_b}",
    response_model=s.PairJudgement,
    responses=problem_responses(404, 422),
)
async def get_pair(
    snap: SnapshotDep, technique_a: TechniqueId, technique_b: TechniqueId
) -> s.PairJudgement:
    """Get the verdict on combining two techniques, with the fact it rests on."""
    return service.compatibility(snap, [technique_a, technique_b]).pairs[0]


@router.get("/compatibility", response_model=s.Compatibility, responses=problem_responses(404, 422))
async def get_compatibility(
    snap: SnapshotDep,
    technique: Annotated[
        list[str], Query(description="Two or more techniques (id or alias; repeatable).")
    ] = [],
) -> s.Compatibility:
    """Judge every pair among the given techniques, and overall."""
    return service.compatibility(snap, technique)


@router.post(
    CHECKS_PATH.removeprefix("/v1"),
    response_model=s.CheckReport,
    responses=problem_responses(404, 422),
)
async def check_plan(snap: SnapshotDep, body: s.CheckRequest) -> s.CheckReport:
    """Check a training plan: pairs, library versions and declared scenarios."""
    return await run_read(snap, lambda: service.check(snap, body))


@router.get("/export", response_model=s.SnapshotDocument, responses=problem_responses(404, 422))
def get_export(snap: SnapshotDep, response: Response) -> Response:
    """Get the data snapshot that `ftmatrix check --offline` reads.

    A snapshot over 4 MiB is streamed (chunked transfer encoding, no Content-Length).
    """
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return send_parts(service.export_parts(snap), "application/json", headers)
