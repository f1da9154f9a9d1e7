"""The one renderer of problem+json, and the OpenAPI declaration of a route's errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    PROBLEM_BASE,
    PROBLEM_CLASSES,
    PROBLEM_MEDIA_TYPE,
    InvalidInput,
    MethodNotAllowed,
    ProblemError,
    ServiceUnavailable,
)
from service.web.context import request_state
from service.web.guard import RETRY_AFTER_S, database_unavailable, unavailable_detail
from service.web.middleware import next_request_id
from service.web.routing import allowed_methods
from service.wire import encodable

log = logging.getLogger("ftmatrix.errors")


MAX_ERRORS = 20
"""A 422 details this many bad values at most, and counts the rest."""
MAX_ALLOWED = 50
"""A longer list of allowed values is replaced by its count and, where known, its list route."""
MAX_PROBLEM_BYTES = 64 * 1024


def _bounded_allowed(entry: dict[str, Any]) -> dict[str, Any]:
    allowed = entry.get("allowed")
    if isinstance(allowed, list) and len(allowed) > MAX_ALLOWED:
        entry = {k: v for k, v in entry.items() if k != "allowed"}
        entry["allowed_count"] = len(allowed)
    return entry


def bounded(problem: Mapping[str, Any]) -> dict[str, Any]:
    """`problem` made small whatever the request was: at most MAX_ERRORS entries in `errors`
    (`errors_total` counts them all), `allowed` lists of at most MAX_ALLOWED values (else
    `allowed_count` and the `allowed_url` that lists them), and never over 64 KiB in all, so
    that an error answer can never be a lever."""
    out = _bounded_allowed(dict(problem))
    errors = out.get("errors")
    if isinstance(errors, list):
        if len(errors) > MAX_ERRORS:
            out["errors_total"] = len(errors)
        out["errors"] = [
            _bounded_allowed(e) if isinstance(e, dict) else e for e in errors[:MAX_ERRORS]
        ]
    if len(json.dumps(out, default=str)) > MAX_PROBLEM_BYTES:
        # Only very long values (e.g. echoed inputs) are left: keep the shape, drop the detail.
        out["errors"] = [
            {k: v for k, v in e.items() if k in ("location", "type", "row")}
            for e in out.get("errors", [])
            if isinstance(e, dict)
        ]
        out.pop("allowed", None)
        if len(out.get("detail", "")) > 1000:
            out["detail"] = out["detail"][:1000] + "..."
    return out


def problem_response(
    problem: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Render a problem dict with the problem+json media type."""
    return JSONResponse(
        encodable(bounded(problem)),
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
            allow = allowed_methods(request.app.routes, request.scope)
            detail = (
                f"Method {request.method} is not allowed on {request.url.path!r}; "
                f"use {', '.join(allow)}."
            )
            refused = MethodNotAllowed(detail, headers={"Allow": ", ".join(allow)}, allowed=allow)
            return await on_problem(request, refused)
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

    def unexpected(request: Request, exc: Exception, headers: dict[str, str]) -> JSONResponse:
        kind = database_unavailable(exc)
        if kind is not None:
            log.error("database %s on %s %s: %s", kind, request.method, request.url.path, exc)
            unready = ServiceUnavailable(unavailable_detail(kind), reason=kind)
            headers = {**headers, "Retry-After": str(RETRY_AFTER_S)}
            return problem_response(unready.to_problem(request.url.path), headers)
        # Never echo the exception: it may hold SQL, paths or secrets. The log has the traceback.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "type": PROBLEM_BASE + "internal",
            "title": "Internal error",
            "status": 500,
            "detail": "The server failed to answer this request; it has been logged.",
            "instance": request.url.path,
        }
        return problem_response(body, headers)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # Raised by a route: answered inside the request middleware, which adds the request id.
        return unexpected(request, exc, {})

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The catch-all runs outside the request middleware: name the request id here.
        request_id = request_state(request).request_id or next_request_id()
        return unexpected(request, exc, {"X-Request-ID": request_id})

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
    # A database error raised by a route is answered here rather than by the catch-all (which
    # Starlette re-raises after answering): a 503 when the database is not ready, else a 500.
    app.add_exception_handler(DBAPIError, on_database)


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
