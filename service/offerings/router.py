"""Read routes: models, hardware, platforms, offerings, and where a fine-tuning job can run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response

from service.errors import NotAcceptable
from service.offerings import render, service
from service.offerings import schemas as s
from service.snapshot import EntityData, Section, Snapshot
from service.web.auth import reader
from service.web.deps import SnapshotDep, etag_for
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute, accepted_media, reads

router = APIRouter(
    prefix="/v1", tags=["offerings"], route_class=DocumentedRoute, dependencies=[Depends(reader)]
)

MEDIA = {
    s.ListFormat.json: "application/json",
    s.ListFormat.csv: "text/csv; charset=utf-8",
    s.ListFormat.markdown: "text/markdown; charset=utf-8",
}
ACCEPTED = {
    "application/json": s.ListFormat.json,
    "text/csv": s.ListFormat.csv,
    "text/markdown": s.ListFormat.markdown,
    "text/x-markdown": s.ListFormat.markdown,
}
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The list as JSON, CSV (one row per item) or a Markdown table.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
    },
    **problem_responses(404, 406, 422),
}
FormatQuery = Annotated[
    s.ListFormat | None, Query(description="Representation; overrides the Accept header.")
]
AcceptHeader = Annotated[str | None, Header(include_in_schema=False)]


def _negotiate(accept: str | None) -> s.ListFormat:
    """The representation an Accept header asks for first (JSON when absent or `*/*`)."""
    if not accept:
        return s.ListFormat.json
    for media in accepted_media(accept):
        if media in ACCEPTED:
            return ACCEPTED[media]
        if media in ("*/*", "application/*"):
            return s.ListFormat.json
    raise NotAcceptable(f"None of {accept!r} can be served.", allowed=sorted(ACCEPTED))


def _send(
    snap: Snapshot,
    kind: str,
    items: Sequence[EntityData],
    chosen: s.ListFormat,
    as_json: Callable[[], Any],
    response: Response,
) -> Any:
    response.headers["Vary"] = "Accept"  # the representation follows Accept
    if chosen is s.ListFormat.json:
        return as_json()
    text = (render.table_csv if chosen is s.ListFormat.csv else render.table_markdown)(kind, items)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    # Each representation has its own strong ETag (RFC 9110 8.8.3).
    headers["etag"] = etag_for(snap.revision, chosen.value)
    return Response(text, media_type=MEDIA[chosen], headers=headers)


ModelId = Annotated[str, Path(description="Model id, alias (e.g. a Hugging Face repo id) or name.")]
HardwareId = Annotated[str, Path(description="Hardware id, e.g. `a100-80gb`.")]
PlatformId = Annotated[str, Path(description="Platform id, alias or old name.")]
OfferingId = Annotated[str, Path(description="Offering id or name.")]


@router.get("/models", response_model=s.ModelList, responses=LIST_RESPONSES)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def list_models(
    snap: SnapshotDep, response: Response, format: FormatQuery = None, accept: AcceptHeader = None
) -> Any:
    """List models: shapes, lifecycle and sources."""
    items = list(service.entities(snap, "model").values())
    return _send(snap, "model", items, format or _negotiate(accept), lambda: s.ModelList(
        revision=snap.revision, total=len(items), items=[service.model_read(e) for e in items]
    ), response)  # fmt: skip


@router.get("/models/{model_id}", response_model=s.ModelOne, responses=problem_responses(404, 422))
@reads(Section.ENTITIES, Section.TECHNIQUES)
def get_model(snap: SnapshotDep, model_id: ModelId) -> s.ModelOne:
    """Get one model by id, alias or name."""
    return s.ModelOne(
        revision=snap.revision, model=service.model_read(service.get(snap, "model", model_id))
    )


@router.get("/hardware", response_model=s.HardwareList, responses=LIST_RESPONSES)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def list_hardware(
    snap: SnapshotDep, response: Response, format: FormatQuery = None, accept: AcceptHeader = None
) -> Any:
    """List hardware: memory as stated and in bytes, bf16/fp8, sources."""
    items = list(service.entities(snap, "hardware").values())
    return _send(snap, "hardware", items, format or _negotiate(accept), lambda: s.HardwareList(
        revision=snap.revision, total=len(items), items=[service.hardware_read(e) for e in items]
    ), response)  # fmt: skip


@router.get(
    "/hardware/{hardware_id}", response_model=s.HardwareOne, responses=problem_responses(404, 422)
)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def get_hardware(snap: SnapshotDep, hardware_id: HardwareId) -> s.HardwareOne:
    """Get one hardware entry by id or name."""
    found = service.get(snap, "hardware", hardware_id)
    return s.HardwareOne(revision=snap.revision, hardware=service.hardware_read(found))


@router.get("/platforms", response_model=s.PlatformList, responses=LIST_RESPONSES)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def list_platforms(
    snap: SnapshotDep, response: Response, format: FormatQuery = None, accept: AcceptHeader = None
) -> Any:
    """List platforms with their names over time."""
    items = list(service.entities(snap, "platform").values())
    return _send(snap, "platform", items, format or _negotiate(accept), lambda: s.PlatformList(
        revision=snap.revision, total=len(items),
        items=[service.platform_read(snap, e) for e in items],
    ), response)  # fmt: skip


@router.get(
    "/platforms/{platform_id}", response_model=s.PlatformOne, responses=problem_responses(404, 422)
)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def get_platform(snap: SnapshotDep, platform_id: PlatformId) -> s.PlatformOne:
    """Get one platform; old names (e.g. "Azure AI Studio") resolve to it."""
    found = service.get(snap, "platform", platform_id)
    return s.PlatformOne(revision=snap.revision, platform=service.platform_read(snap, found))


@router.get("/offerings", response_model=s.OfferingList, responses=LIST_RESPONSES)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def list_offerings(
    snap: SnapshotDep,
    response: Response,
    model: Annotated[str | None, Query(description="Only those that can fine-tune it.")] = None,
    technique: Annotated[str | None, Query(description="Only those that offer it.")] = None,
    mode: Annotated[s.Mode | None, Query(description="Only those that run this way.")] = None,
    hardware: Annotated[str | None, Query(description="Only those that run on it.")] = None,
    status: Annotated[s.Status | None, Query(description="Only those in this state.")] = None,
    format: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Any:
    """List offerings, filtered by model, technique, mode, hardware and status."""
    items = service.offerings(snap, model, technique, mode, hardware, status)
    return _send(snap, "offering", items, format or _negotiate(accept), lambda: s.OfferingList(
        revision=snap.revision, total=len(items), items=[service.offering_read(e) for e in items]
    ), response)  # fmt: skip


@router.get(
    "/offerings/{offering_id}", response_model=s.OfferingOne, responses=problem_responses(404, 422)
)
@reads(Section.ENTITIES, Section.TECHNIQUES)
def get_offering(snap: SnapshotDep, offering_id: OfferingId) -> s.OfferingOne:
    """Get one offering by id or name."""
    found = service.get(snap, "offering", offering_id)
    return s.OfferingOne(revision=snap.revision, offering=service.offering_read(found))


@router.get("/where", response_model=s.WhereAnswer, responses=problem_responses(404, 422))
def get_where(
    snap: SnapshotDep,
    model: Annotated[str, Query(description="The model to fine-tune (id, alias or HF repo id).")],
    technique: Annotated[
        list[str], Query(description="Techniques the job uses (repeatable).")
    ] = [],
) -> s.WhereAnswer:
    """Rank the offerings that can fine-tune `model` with these techniques, and say why not
    for the others (model not supported, technique not offered, retired on a date)."""
    return service.where(snap, model, technique)
