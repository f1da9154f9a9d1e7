"""`POST /v1/estimates`: will it fit? Memory per GPU by component, with units and sources."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from service.estimates import schemas as s
from service.estimates import service
from service.web.auth import reader
from service.web.deps import SnapshotDep
from service.web.problems import problem_responses
from service.web.routing import ESTIMATES_PATH, DocumentedRoute

router = APIRouter(
    prefix="/v1",
    tags=["estimates"],
    route_class=DocumentedRoute,
    dependencies=[Depends(reader)],
)
SVG = "image/svg+xml"


@router.post(
    ESTIMATES_PATH.removeprefix("/v1"),
    response_model=s.EstimateAnswer,
    responses={
        200: {"content": {SVG: {"schema": {"type": "string"}}}},
        **problem_responses(404, 422),
    },
)
def create_estimate(snap: SnapshotDep, body: s.EstimateRequest) -> s.EstimateAnswer | Response:
    """Estimate the memory of a fine-tuning job per GPU, and whether it fits the hardware given.

    Figures are bytes; `unit` says how the profile's source prints them. With
    `"format": "svg"` the answer is the picture instead: a stacked bar by component with each
    GPU's memory as a dashed line (no script). Read-only: repeated estimates are answered from
    the cache of the current revision.
    """
    if body.format == "svg":
        return Response(service.picture(service.records(snap), body), media_type=SVG)
    return service.answer(service.records(snap), body)
