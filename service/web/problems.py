"""The one renderer of problem+json, and the OpenAPI declaration of a route's errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    PROBLEM_BASE,
    PROBLEM_CLASSES,
    PROBLEM_MEDIA_TYPE,
    InvalidInput,
    ProblemError,
)
from service.web.context import request_state
from service.wire import encodable

log = logging.getLogger("ftmatrix.errors")


def problem_response(
    problem: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Render a problem dict with the problem+json media type."""
    return JSONResponse(
        encodable(problem),
        status_code=int(problem["status"]),
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _validation_entry(error: Mapping[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    entry: dict[str, Any] = {
        "location": ".".join(loc),
        "message": str(error.get("msg", "invalid value")),
        "type": str(error.get("type", "value_error")),
    }
    if "input" in error and isinstance(error["input"], str | int | float | bool):
        entry["input"] = error["input"]
    ctx = error.get("ctx") or {}
    expected = ctx.get("expected")
    if isinstance(expected, str):
        # pydantic phrases enum choices as "'a', 'b' or 'c'"; give callers a list.
        entry["allowed"] = [p.strip(" '") for p in expected.replace(" or ", ", ").split(",")]
    for bound in ("ge", "gt", "le", "lt", "max_length", "min_length", "pattern"):
        if bound in ctx:
            entry[bound] = ctx[bound]
    return entry


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the problem+json renderer."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        request_state(request).problem = exc.detail  # for the audit row of a refused write
        return problem_response(exc.to_problem(request.url.path), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        entries = [_validation_entry(e) for e in exc.errors()]
        where = ", ".join(e["location"] for e in entries) or "request"
        problem = InvalidInput(f"Invalid value in {where}.", errors=entries)
        request_state(request).problem = problem.detail
        allowed = [a for e in entries for a in e.get("allowed", [])]
        if len(entries) == 1 and allowed:
            problem.extra["allowed"] = allowed
        return problem_response(problem.to_problem(request.url.path))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, ProblemError):
            # FastAPI turns any failure while reading a body into a 400; keep the real one
            # (a body over the size limit is a 413).
            return await on_problem(request, exc.__cause__)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # A body FastAPI could not decode at all (e.g. not UTF-8): the same 422 as any
            # other invalid input, so every write documents one status for a bad body.
            problem = InvalidInput(
                "The request body could not be read as JSON text in UTF-8.",
                errors=[{"location": "body", "message": "not UTF-8 JSON", "type": "json_invalid"}],
            )
            return await on_problem(request, problem)
        cls = PROBLEM_CLASSES.get(exc.status_code)
        if exc.status_code == 404:
            detail = f"No route {request.url.path!r}; see /docs for the API."
        elif exc.status_code == 405:
            detail = f"Method {request.method} is not allowed on {request.url.path!r}."
        else:
            detail = str(exc.detail)
        body = {
            "type": PROBLEM_BASE + (cls.slug if cls else "http-error"),
            "title": cls.title if cls else "HTTP error",
            "status": exc.status_code,
            "detail": detail,
            "instance": request.url.path,
        }
        return problem_response(body, exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never echo the exception: it may hold SQL, paths or secrets. The log has the traceback.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "type": PROBLEM_BASE + "internal",
            "title": "Internal error",
            "status": 500,
            "detail": "The server failed to answer this request; it has been logged.",
            "instance": request.url.path,
        }
        return problem_response(body)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring the problem+json errors a route can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        cls = PROBLEM_CLASSES.get(status)
        out[status] = {
            "description": cls.title if cls else "Error",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
