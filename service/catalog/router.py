"""Read routes: techniques, scenarios, the matrix and recommendations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from service.catalog import render, service
from service.catalog import schemas as s
from service.catalog.fit import FitQuestion
from service.errors import NotAcceptable
from service.estimates import Profile
from service.snapshot import Section, Snapshot
from service.vocabulary import Support
from service.web.auth import reader
from service.web.deps import (
    Limit,
    Offset,
    SnapshotDep,
    etag_for,
    json_answer,
    next_link,
    prepared_json,
    prepared_parts,
    run_read,
)
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute, accepted_media, reads, send_parts

router = APIRouter(
    prefix="/v1", tags=["catalog"], route_class=DocumentedRoute, dependencies=[Depends(reader)]
)

TechniqueId = Annotated[str, Path(description="Technique id or alias (case-insensitive).")]
ScenarioId = Annotated[str, Path(description="Scenario id, alias or exact title.")]
SupportFilter = Annotated[
    list[Support], Query(description="Keep only cells with these support levels (repeatable).")
]

MEDIA_TYPES = {
    s.MatrixFormat.json: "application/json",
    s.MatrixFormat.csv: "text/csv; charset=utf-8",
    s.MatrixFormat.markdown: "text/markdown; charset=utf-8",
}
RENDERERS = {
    s.MatrixFormat.json: render.matrix_json_parts,
    s.MatrixFormat.csv: render.matrix_csv_parts,
    s.MatrixFormat.markdown: render.matrix_markdown_parts,
}
ACCEPTED = {
    "application/json": s.MatrixFormat.json,
    "text/csv": s.MatrixFormat.csv,
    "text/markdown": s.MatrixFormat.markdown,
    "text/x-markdown": s.MatrixFormat.markdown,
}


def negotiate(accept: str | None) -> s.MatrixFormat:
    """The best representation for an Accept header (JSON when absent or anything goes)."""
    if not accept:
        return s.MatrixFormat.json
    for media in accepted_media(accept):
        if media in ACCEPTED:
            return ACCEPTED[media]
        if media in ("*/*", "application/*"):
            return s.MatrixFormat.json
        if media == "text/*":
            return s.MatrixFormat.csv
    raise NotAcceptable(
        f"None of {accept!r} can be served.",
        allowed=sorted(ACCEPTED),
    )


@router.get(
    "/techniques",
    response_model=s.TechniqueList,
    responses=problem_responses(404, 422),
)
@reads(Section.TECHNIQUES)
async def list_techniques(
    request: Request, response: Response, snap: SnapshotDep, limit: Limit, offset: Offset = 0
) -> s.TechniqueList:
    """List techniques."""
    items = list(snap.techniques.values())
    next_link(request, response, len(items), limit, offset)
    return s.TechniqueList(
        revision=snap.revision,
        total=len(items),
        limit=limit,
        offset=offset,
        items=[service.technique_read(snap, t) for t in service.page(items, limit, offset)],
    )


@router.get(
    "/techniques/{technique_id}",
    response_model=s.TechniqueOne,
    responses=problem_responses(404, 422),
)
@reads(Section.TECHNIQUES)
async def get_technique(
    snap: SnapshotDep, response: Response, technique_id: TechniqueId
) -> Response:
    """Get one technique by id or alias."""
    t = service.technique(snap, technique_id)
    return await prepared_json(
        snap,
        response,
        ("technique", t.id),
        lambda: s.TechniqueOne(revision=snap.revision, technique=service.technique_read(snap, t)),
    )


async def _line(
    snap: Snapshot,
    response: Response,
    write: Callable[[Snapshot, str, list[Support]], bytes],
    value: str,
    support: list[Support],
) -> Response:
    """The answer of a row or a column: the JSON `write` makes of the one named `value` (it
    reads cells through `get`, `row` and `column` only)."""
    body = await run_read(snap, lambda: write(snap, value, support), lines=True)
    return json_answer(body, response)


@router.get(
    "/techniques/{technique_id}/scenarios",
    response_model=s.TechniqueScenarios,
    responses=problem_responses(404, 422),
)
async def list_technique_scenarios(
    snap: SnapshotDep, response: Response, technique_id: TechniqueId, support: SupportFilter = []
) -> Response:
    """List the scenarios one technique suits (its matrix column)."""
    return await _line(snap, response, service.technique_column_json, technique_id, support)


@router.get(
    "/scenarios",
    response_model=s.ScenarioList,
    responses=problem_responses(404, 422),
)
@reads(Section.SCENARIOS)
async def list_scenarios(
    request: Request, response: Response, snap: SnapshotDep, limit: Limit, offset: Offset = 0
) -> s.ScenarioList:
    """List scenarios."""
    items = list(snap.scenarios.values())
    next_link(request, response, len(items), limit, offset)
    return s.ScenarioList(
        revision=snap.revision,
        total=len(items),
        limit=limit,
        offset=offset,
        items=[service.scenario_read(sc) for sc in service.page(items, limit, offset)],
    )


@router.get(
    "/scenarios/{scenario_id}",
    response_model=s.ScenarioOne,
    responses=problem_responses(404, 422),
)
@reads(Section.SCENARIOS)
async def get_scenario(snap: SnapshotDep, scenario_id: ScenarioId) -> s.ScenarioOne:
    """Get one scenario by id, alias or title."""
    sc = service.scenario(snap, scenario_id)
    return s.ScenarioOne(revision=snap.revision, scenario=service.scenario_read(sc))


@router.get(
    "/scenarios/{scenario_id}/techniques",
    response_model=s.ScenarioTechniques,
    responses=problem_responses(404, 422),
)
async def list_scenario_techniques(
    snap: SnapshotDep, response: Response, scenario_id: ScenarioId, support: SupportFilter = []
) -> Response:
    """List the techniques for one scenario (its matrix row)."""
    return await _line(snap, response, service.scenario_row_json, scenario_id, support)


@router.get(
    "/matrix",
    response_model=s.Matrix,
    responses={
        200: {
            "description": "The matrix as JSON, CSV (one cell a line) or a Markdown table.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(404, 406, 422),
    },
)
async def get_matrix(
    snap: SnapshotDep,
    response: Response,
    scenario: Annotated[
        list[str], Query(description="Keep only these scenarios (id, alias or title; repeatable).")
    ] = [],
    technique: Annotated[
        list[str], Query(description="Keep only these techniques (id or alias; repeatable).")
    ] = [],
    support: SupportFilter = [],
    format: Annotated[
        s.MatrixFormat | None,
        Query(description="Representation; overrides the Accept header."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Get the matrix, filtered, as JSON, CSV or Markdown.

    A matrix over 4 MiB is streamed (chunked transfer encoding, no Content-Length).
    """
    response.headers["Vary"] = "Accept"
    chosen = format or negotiate(accept)
    parts = await prepared_parts(
        snap,
        ("matrix", chosen, tuple(scenario), tuple(technique), tuple(support)),
        lambda: RENDERERS[chosen](service.matrix(snap, scenario, technique, support)),
    )
    # A returned Response does not inherit headers set on the injected one (ETag, Vary).
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    if chosen != s.MatrixFormat.json:
        # Each representation has its own strong ETag (RFC 9110 8.8.3).
        headers["etag"] = etag_for(snap.revision, chosen.value)
    return send_parts(parts, MEDIA_TYPES[chosen], headers)


@router.get(
    "/matrix/{scenario_id}/{technique_id}",
    response_model=s.CellOne,
    responses=problem_responses(404, 422),
)
async def get_cell(
    snap: SnapshotDep, response: Response, scenario_id: ScenarioId, technique_id: TechniqueId
) -> Response:
    """Get one cell of the matrix with its note and sources."""
    sc = service.scenario(snap, scenario_id)
    t = service.technique(snap, technique_id)
    return await prepared_json(
        snap,
        response,
        ("cell", sc.id, t.id),
        lambda: s.CellOne(
            revision=snap.revision,
            scenario=service.scenario_ref(sc),
            technique=service.technique_ref(t),
            cell=service.cell_read(service.cell_of(snap, sc.id, t.id)),
        ),
    )


@router.get(
    "/recommendations",
    response_model=s.Recommendations,
    responses=problem_responses(404, 422),
)
def get_recommendations(
    snap: SnapshotDep,
    scenario: Annotated[
        list[str],
        Query(
            description="Scenarios every recommended technique must suit (repeatable); "
            "required unless a model is given."
        ),
    ] = [],
    model: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Catalog model id or alias: estimate each technique's memory for it.",
        ),
    ] = None,
    hardware: Annotated[
        list[str],
        Query(description="Hardware ids to judge the fit on, as alternatives (repeatable)."),
    ] = [],
    gpus: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="GPUs of that hardware; default 1.")
    ] = None,
    seq_len: Annotated[
        int | None,
        Query(ge=1, le=10**8, description="Tokens per sequence; absent: no activations."),
    ] = None,
    micro_batch: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="Sequences per GPU per step (with seq_len); 1."),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None, Query(description="Full activation recomputation (with seq_len).")
    ] = None,
    profile: Annotated[
        Profile | None, Query(description="Whose accounting to follow; default ftmatrix.")
    ] = None,
) -> s.Recommendations:
    """Rank the techniques that suit all the given scenarios, and with a model, by fit.

    Without `model`: the techniques whose support is yes or partial for every scenario,
    ranked by score (the mean of yes = 1 and partial = 0.5), ties in the matrix's order;
    the others are in `excluded` with the verdicts that ruled them out.

    With `model` (and optionally `hardware`, `gpus`, `seq_len`, `micro_batch`,
    `gradient_checkpointing`, `profile`), each candidate gains `estimate`: how the estimator
    counted it, bytes per GPU, parameters, the fit on each hardware with its headroom, and
    every assumption. Scenarios become optional (none: every technique is a candidate).
    Ranking: (1) fits at least one hardware named, before fit unknown (not estimated, no
    hardware, or memory not in the data); (2) score, highest first; (3) per-GPU total,
    smallest first; (4) the matrix's order. A candidate that misses every hardware named is
    in `excluded` with reason `does-not-fit`, the shortfall in bytes on each and its largest
    component. A model without a shape in the catalog is no error: each item says "fit not
    estimated". Technique mapping: lora, dora and peft as LoRA/DoRA with r = 8 on q_proj and
    v_proj; qlora with a 4-bit NF4 base; zero-1/2/3 as full fine-tuning at that stage;
    zero-offload as stage 2 with CPU optimizer offload; zero-infinity as stage 3 with NVMe
    offload; zero and deepspeed as stage 3; fsdp as FULL_SHARD; zero-plus-plus is not
    estimated. Every choice made for the caller is listed as an assumption.
    """
    question = FitQuestion(
        model=model,
        hardware=hardware,
        gpus=gpus,
        seq_len=seq_len,
        micro_batch=micro_batch,
        gradient_checkpointing=gradient_checkpointing,
        profile=profile,
    )
    return service.recommend(snap, scenario, question)
