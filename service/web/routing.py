"""What every router shares: the route class (docstring -> OpenAPI summary), and how a large
document is sent (whole when small, streamed when large)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain
from typing import Any, TypeVar

from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from service.snapshot import Section

CHECKS_PATH = "/v1/checks"
ESTIMATES_PATH = "/v1/estimates"
READ_ONLY_POSTS = frozenset({CHECKS_PATH, ESTIMATES_PATH})
"""POST paths that only read (a plan check, a memory estimate): answered by the fast path when
cached, never audited as write attempts. Routers declare these paths through this constant."""


READS_ATTRIBUTE = "ftm_reads"
F = TypeVar("F", bound=Callable[..., Any])


def reads(*sections: Section) -> Callable[[F], F]:
    """Declare the parts of the snapshot a GET route's answer is made from, besides the
    revision number (put it under the route's decorator).

    The fast path then re-labels that route's prepared answers of revision N for revision
    N+1 when the revisions between left those parts as they were, instead of computing them
    again (`service.web.fastpath`). An undeclared route is computed again after every write.
    Declare every part the answer reads, through any lookup: a part left out means a stale
    answer. `tests/web/test_relabel.py` holds every declared route to a fresh computation.
    """

    def mark(endpoint: F) -> F:
        setattr(endpoint, READS_ATTRIBUTE, frozenset(sections))
        return endpoint

    return mark


def declared_reads(route: object) -> frozenset[Section] | None:
    """What `reads` declared on a route's endpoint, or None."""
    found = getattr(getattr(route, "endpoint", None), READS_ATTRIBUTE, None)
    return found if isinstance(found, frozenset) else None


def is_read_only_post(scope: Mapping[str, Any]) -> bool:
    """True for a POST to one of READ_ONLY_POSTS."""
    return scope.get("method") == "POST" and scope.get("path") in READ_ONLY_POSTS


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers on the path of `scope` (RFC 9110 10.2.1 `Allow`),
    HEAD with every GET, sorted. Routes are asked as the router asks them, so included
    routers and mounts answer for their own routes."""
    routes = list(routes)
    methods = {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def accepted_media(accept: str) -> list[str]:
    """The media types of an Accept header (RFC 9110 12.5.1), most wanted first: by quality,
    then in the order given; those with q=0 (or an unreadable q) are left out."""
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offers.append((quality, -index, media.strip().lower()))
    return [media for quality, _, media in sorted(offers, reverse=True) if quality > 0]


STREAM_AFTER_BYTES = 4 * 1024 * 1024
"""A document larger than this is streamed (chunked) instead of being held whole in memory."""


class DocumentedRoute(APIRoute):
    """An APIRoute whose summary and description come from the endpoint's docstring."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        first, _, rest = (inspect.getdoc(endpoint) or "").partition("\n")
        if kwargs.get("summary") is None:
            kwargs["summary"] = first.strip() or None
        if kwargs.get("description") is None:
            kwargs["description"] = rest.strip()
        super().__init__(path, endpoint, **kwargs)


def send_parts(parts: Iterator[bytes], media_type: str, headers: Mapping[str, str]) -> Response:
    """A response for a document made of `parts`: read whole (with Content-Length) when it is
    under STREAM_AFTER_BYTES, else streamed as the parts come, in bounded memory.

    Call it from a worker thread: producing the parts may read the database. A streamed
    response reads the rest of the parts in a worker thread too (Starlette does so for a
    synchronous iterator).
    """
    head: list[bytes] = []
    size = 0
    for part in parts:
        head.append(part)
        size += len(part)
        if size > STREAM_AFTER_BYTES:
            return StreamingResponse(
                chain(head, parts), media_type=media_type, headers=dict(headers)
            )
    return Response(b"".join(head), media_type=media_type, headers=dict(headers))
