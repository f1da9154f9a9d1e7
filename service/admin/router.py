"""Write routes, on the same paths as the reads, plus keys and the audit log (admin scope).

Every write needs a key with `write` scope, `X-Change-Reason` and `If-Match`; it makes exactly
one revision (or, with `dry_run=true`, returns the diff and writes nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.admin import bulk, entities, revert, service
from service.admin import schemas as s
from service.admin.deps import AdminOps, Writes
from service.admin.writer import Writer
from service.compat.schemas import PairWrite
from service.errors import InvalidInput, UnsupportedMediaType
from service.history import audit
from service.history import schemas as hs
from service.keys import KeyInfo, create_key_info, list_keys, revoke_key
from service.models import MAX_INT
from service.offerings import schemas as os_
from service.vocabulary import Scope
from service.web.deps import Limit, Offset, json_answer, next_link
from service.web.problems import problem_responses
from service.web.routing import DocumentedRoute

router = APIRouter(prefix="/v1", tags=["curation"], route_class=DocumentedRoute)
admin = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=DocumentedRoute)

WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
PUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_ERRORS,
    201: {
        "model": s.WriteResult,
        "description": "Created: the entity did not exist; `Location` names it.",
    },
}
"""A create-or-replace PUT: 200 when it replaced, 201 when it created."""
TechniqueId = Annotated[str, Path(description="Technique id or alias.")]
ScenarioId = Annotated[str, Path(description="Scenario id, alias or title.")]


@router.post(
    "/techniques",
    response_model=s.WriteResult,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def create_technique(writes: Writes, body: s.TechniqueCreate) -> s.WriteResult:
    """Add a technique."""
    return writes.run(
        lambda w: service.create_technique(w, body), location=lambda _: f"/v1/techniques/{body.id}"
    )


@router.patch("/techniques/{technique_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def update_technique(
    writes: Writes, technique_id: TechniqueId, body: s.TechniqueUpdate
) -> s.WriteResult:
    """Change a technique's fields; a new `id` renames it and keeps the old id as an alias."""
    return writes.run(lambda w: service.update_technique(w, technique_id, body))


@router.delete("/techniques/{technique_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_technique(writes: Writes, technique_id: TechniqueId) -> s.WriteResult:
    """Retire a technique: current reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: service.retire_technique(w, technique_id))


@router.post(
    "/scenarios",
    response_model=s.WriteResult,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def create_scenario(writes: Writes, body: s.ScenarioCreate) -> s.WriteResult:
    """Add a scenario."""
    return writes.run(
        lambda w: service.create_scenario(w, body), location=lambda _: f"/v1/scenarios/{body.id}"
    )


@router.patch("/scenarios/{scenario_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def update_scenario(
    writes: Writes, scenario_id: ScenarioId, body: s.ScenarioUpdate
) -> s.WriteResult:
    """Change a scenario's fields; a new `id` renames it and keeps the old id as an alias."""
    return writes.run(lambda w: service.update_scenario(w, scenario_id, body))


@router.delete("/scenarios/{scenario_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_scenario(writes: Writes, scenario_id: ScenarioId) -> s.WriteResult:
    """Retire a scenario: current reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: service.retire_scenario(w, scenario_id))


@router.put(
    "/matrix/{scenario_id}/{technique_id}", response_model=s.WriteResult, responses=WRITE_ERRORS
)
def set_cell(
    writes: Writes, scenario_id: ScenarioId, technique_id: TechniqueId, body: s.CellWrite
) -> s.WriteResult:
    """Set one cell of the matrix: support, note and sources."""
    return writes.run(lambda w: service.set_cell(w, scenario_id, technique_id, body))


@router.put(
    "/pairs/{technique_a}/{technique_b}", response_model=s.WriteResult, responses=WRITE_ERRORS
)
def set_pair(
    writes: Writes, technique_a: TechniqueId, technique_b: TechniqueId, body: PairWrite
) -> s.WriteResult:
    """Set what is known about combining two techniques (the order does not matter)."""
    return writes.run(lambda w: service.set_pair(w, technique_a, technique_b, body))


EntityId = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9][a-z0-9.-]{0,63}$",
        description="The id: lower-case letters, digits, dots and dashes; at most 64 characters.",
    ),
]
EntityName = Annotated[str, Path(description="Id or alias.")]


def _put(writes: Writes, route: str, entity_id: str, body: entities.EntityWrite) -> s.WriteResult:
    """A PUT that created the entity answers 201 with its Location; one that replaced it, 200."""
    result = writes.run(lambda w: entities.put_entity(w, entity_id, body))
    if result.created_revision is not None and result.changes[0].op == "create":
        writes.response.status_code = status.HTTP_201_CREATED
        writes.response.headers["Location"] = f"/v1/{route}/{entity_id}"
    return result


@router.put("/models/{model_id}", response_model=s.WriteResult, responses=PUT_RESPONSES)
def set_model(writes: Writes, model_id: EntityId, body: os_.ModelWrite) -> s.WriteResult:
    """Create a model, or replace it whole."""
    return _put(writes, "models", model_id, body)


@router.delete("/models/{model_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_model(writes: Writes, model_id: EntityName) -> s.WriteResult:
    """Retire a model: current reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: entities.retire_entity(w, "model", model_id))


@router.put("/hardware/{hardware_id}", response_model=s.WriteResult, responses=PUT_RESPONSES)
def set_hardware(writes: Writes, hardware_id: EntityId, body: os_.HardwareWrite) -> s.WriteResult:
    """Create a hardware kind, or replace it whole."""
    return _put(writes, "hardware", hardware_id, body)


@router.delete("/hardware/{hardware_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_hardware(writes: Writes, hardware_id: EntityName) -> s.WriteResult:
    """Retire a hardware kind: reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: entities.retire_entity(w, "hardware", hardware_id))


@router.put("/platforms/{platform_id}", response_model=s.WriteResult, responses=PUT_RESPONSES)
def set_platform(writes: Writes, platform_id: EntityId, body: os_.PlatformWrite) -> s.WriteResult:
    """Create a platform, or replace it whole."""
    return _put(writes, "platforms", platform_id, body)


@router.delete("/platforms/{platform_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_platform(writes: Writes, platform_id: EntityName) -> s.WriteResult:
    """Retire a platform: reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: entities.retire_entity(w, "platform", platform_id))


@router.put("/offerings/{offering_id}", response_model=s.WriteResult, responses=PUT_RESPONSES)
def set_offering(writes: Writes, offering_id: EntityId, body: os_.OfferingWrite) -> s.WriteResult:
    """Create an offering, or replace it whole; what it names must exist."""
    return _put(writes, "offerings", offering_id, body)


@router.delete("/offerings/{offering_id}", response_model=s.WriteResult, responses=WRITE_ERRORS)
def delete_offering(writes: Writes, offering_id: EntityName) -> s.WriteResult:
    """Retire an offering: reads stop showing it, history keeps it, its id stays taken."""
    return writes.run(lambda w: entities.retire_entity(w, "offering", offering_id))


MATRIX_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            'Cells to set. JSON `{"cells": [{"scenario", "technique", "support", '
            '"note"?, "sources"?}]}`; CSV with the columns of `GET /v1/matrix?format=csv`; '
            "or a Markdown table in the layout of `GET /v1/matrix?format=markdown` (an empty "
            "cell changes nothing). Omitted notes and sources keep their current value."
        ),
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/MatrixPatch"}},
            "text/csv": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
    }
}


@router.patch(
    "/matrix",
    response_model=s.WriteResult,
    responses=problem_responses(401, 403, 404, 409, 412, 415, 422, 428),
    openapi_extra=MATRIX_PATCH_BODY,
)
async def apply_matrix(request: Request, response: Response, writes: Writes) -> Response:
    """Set many cells at once from JSON, CSV or a Markdown table."""
    body = await request.body()
    try:
        edits = bulk.parse_body(request.headers.get("content-type", ""), body)
    except bulk.UnsupportedBulkType as exc:
        raise UnsupportedMediaType(str(exc), allowed=list(exc.allowed)) from None
    except bulk.BulkParseError as exc:
        if not exc.edits:  # nothing parsed, so there is no name to look up
            raise service.bulk_problem(exc.errors) from None
        refused = exc
        await run_in_threadpool(writes.write, lambda w: _refuse_bulk(w, refused))
        raise AssertionError("_refuse_bulk always raises") from None  # pragma: no cover
    written = await run_in_threadpool(writes.write, lambda w: service.apply_cells(w, edits))
    # Its `WriteResult` written directly: a bulk edit's answer lists every change (tens of
    # thousands), which the model would validate and FastAPI dump, validate and serialize.
    return json_answer(written.json(), response)


def _refuse_bulk(w: Writer, parsed: bulk.BulkParseError) -> None:
    """Raise one 422 listing the rows that did not parse and, in the same answer, the unknown
    scenarios and techniques of those that did (found by applying them: whatever that wrote
    is rolled back with the refused write)."""
    problem = service.bulk_problem(parsed.errors)
    try:
        service.apply_cells(w, parsed.edits)
    except InvalidInput as unknown:
        errors = [*problem.extra["errors"], *unknown.extra.get("errors", [])]
        errors.sort(key=lambda e: int(e.get("row", 0)))
        detail = f"{len(errors)} row(s) are invalid; nothing was changed."
        raise InvalidInput(detail, errors=errors) from None
    raise problem


@router.post(
    "/revisions/{number}/revert",
    response_model=s.WriteResult,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def revert_revision(
    writes: Writes,
    number: Annotated[int, Path(ge=1, le=MAX_INT, description="The revision to undo.")],
) -> s.WriteResult:
    """Make a new revision that undoes revision `number`."""
    return writes.run(
        lambda w: revert.revert_revision(w, number),
        location=lambda result: f"/v1/revisions/{result.revision}",
    )


def _key_read(info: KeyInfo) -> s.KeyRead:
    return s.KeyRead(
        name=info.name,
        key_id=info.key_id,
        scope=info.scope,
        created_at=info.created_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


@admin.post(
    "/keys",
    response_model=s.KeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
)
def create_api_key(response: Response, ops: AdminOps, body: s.KeyCreate) -> s.KeyCreated:
    """Create an API key; the secret is in this response only."""
    scope = cast(Scope, body.scope)
    info, secret = ops.change(
        lambda conn: create_key_info(conn, body.name, scope, body.expires_in_days),
        lambda _: f"created key {body.name!r} ({body.scope})",
    )
    response.headers["Location"] = "/v1/admin/keys"
    return s.KeyCreated(**_key_read(info).model_dump(), key=secret)


@admin.get("/keys", response_model=s.KeyList, responses=problem_responses(401, 403, 422))
def list_api_keys(ops: AdminOps) -> s.KeyList:
    """List API keys (never their secrets)."""
    return s.KeyList(items=[_key_read(k) for k in ops.read(list_keys)])


@admin.delete(
    "/keys/{name}", response_model=s.KeyRead, responses=problem_responses(401, 403, 404, 422)
)
def revoke_api_key(ops: AdminOps, name: str) -> s.KeyRead:
    """Revoke an API key; it stops working at once."""
    return _key_read(
        ops.change(lambda conn: revoke_key(conn, name), lambda _: f"revoked key {name!r}")
    )


@admin.get("/audit", response_model=hs.AuditList, responses=problem_responses(401, 403, 422))
def list_audit(
    request: Request,
    response: Response,
    ops: AdminOps,
    limit: Limit,
    key: Annotated[str | None, Query(description="Only attempts by this key name.")] = None,
    action: Annotated[
        str | None, Query(description="Only this operation, e.g. `set_cell`.")
    ] = None,
    outcome: Annotated[
        str | None, Query(pattern="^(ok|dry_run|refused|error)$", description="Only this outcome.")
    ] = None,
    status_code: Annotated[int | None, Query(alias="status", ge=100, le=599)] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
    offset: Offset = 0,
) -> hs.AuditList:
    """List write attempts, accepted and refused, newest first."""
    where = audit.AuditFilter(key, action, outcome, status_code, since, until)
    found = ops.read(lambda conn: audit.list_entries(conn, where, limit, offset))
    next_link(request, response, found.total, limit, offset)
    return found
