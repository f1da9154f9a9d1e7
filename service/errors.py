"""Typed domain errors, rendered as RFC 9457 problem+json by `service.web.problems`.

Services raise these; routers never build error responses by hand. This module stays free of
the web framework so that services and pure modules can raise them. Each error carries a stable
`type` URI (documented in docs/problems.md), a short title, the HTTP status, a detail sentence,
and fields that tell the caller what to do next (`allowed`, `did_you_mean`, `current_revision`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://ftmatrix.dev/problems/"


class Problem(BaseModel):
    """An RFC 9457 problem document, with ftmatrix's extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem; see docs/problems.md.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, for a human.")
    instance: str | None = Field(default=None, description="The request path.")
    allowed: list[str] | None = Field(default=None, description="Values that would be accepted.")
    did_you_mean: str | None = Field(default=None, description="The closest accepted value.")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="One entry per invalid input: where, what, what is allowed."
    )


class ProblemError(Exception):
    """Base of every error the service raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document as a JSON-ready dict."""
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(ProblemError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class Unauthorized(ProblemError):
    status = 401
    slug = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(ProblemError):
    status = 403
    slug = "forbidden"
    title = "API key lacks the required scope"


class NotFound(ProblemError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(ProblemError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class NotAcceptable(ProblemError):
    status = 406
    slug = "not-acceptable"
    title = "No acceptable representation"


class Conflict(ProblemError):
    status = 409
    slug = "conflict"
    title = "Conflict with the stored data"


class PreconditionFailed(ProblemError):
    status = 412
    slug = "precondition-failed"
    title = "The data changed since you read it"


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaType(ProblemError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported content type"


class InvalidInput(ProblemError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class PreconditionRequired(ProblemError):
    status = 428
    slug = "precondition-required"
    title = "If-Match header required"


class ServiceUnavailable(ProblemError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


def closest(value: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to `value` (case-insensitive), or None when nothing is close."""
    pool = {c.casefold(): c for c in candidates}
    match = difflib.get_close_matches(value.casefold(), list(pool), n=1, cutoff=0.5)
    return pool[match[0]] if match else None


LIST_ROUTES = {"technique": "/v1/techniques", "scenario": "/v1/scenarios"}
"""Where the full list of valid ids of a kind is, for answers too long to carry it."""


def unknown_id(kind: str, value: str, spellings: Mapping[str, str]) -> NotFound:
    """A 404 for an unknown technique or scenario: the valid ids and the closest one.

    `spellings` maps every accepted spelling (ids, aliases, titles) to its id; the nearest
    spelling is reported as the id it stands for.
    """
    valid = list(dict.fromkeys(spellings.values()))
    guess = closest(value, spellings)
    return NotFound(
        f"No {kind} with id or alias {value!r}.",
        allowed=valid,
        allowed_url=LIST_ROUTES.get(kind),
        did_you_mean=spellings[guess] if guess is not None else None,
    )


PROBLEM_CLASSES: dict[int, type[ProblemError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        InvalidInput,
        PreconditionRequired,
        ServiceUnavailable,
    )
}
