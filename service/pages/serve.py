"""Serving a page: the revision read, the entity tag and 304, errors as HTML, the layout's data.

Every GET page goes through `page()`: it answers a matching If-None-Match with 304 before any
work, reads the snapshot `at=N` asks for, runs the page's builder in a worker thread with a
connection, and renders a typed error as an HTML page with the error's status. A builder that
wants to answer with another status (a form whose input the API refuses) returns `Rendered`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.errors import NotFound, ProblemError
from service.pages import render, views
from service.snapshot import Snapshot, SnapshotStore
from service.web.deps import Reads

IfNoneMatch = Annotated[str | None, Header()]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A page's text with the status to send it with (a refused form's 422, say); such a page
    is never cached: it carries no entity tag and `Cache-Control: no-store`."""

    text: str
    status: int


Build = Callable[[Snapshot, Snapshot, views.RevisionIndex, sa.Connection], "str | Rendered"]
"""Renders a page from (the snapshot read, the newest one, the history, a connection)."""


def snapshot_at(store: SnapshotStore, newest: Snapshot, at: str | None) -> Snapshot:
    """The snapshot `at` names (the newest when absent), or the 400/404 saying why not."""
    number = views.positive("at", at, newest.revision)
    if number == newest.revision:
        return newest
    found = store.at(number)
    if found is None:
        raise NotFound(
            f"Revision {number} does not exist; the newest is {newest.revision}.",
            latest_revision=newest.revision,
        )
    return found


def error_page(exc: ProblemError, newest: int | None = None) -> Response:
    """An HTML page for a typed error: its status, title and detail, and the closest id."""
    text = render.render(
        "error.html",
        title=exc.title,
        status=exc.status,
        detail=exc.detail,
        did_you_mean=exc.extra.get("did_you_mean"),
        newest=newest,
        at=None,
    )
    return render.html(text, status=exc.status)


async def page(
    request: Request,
    store: SnapshotStore,
    reads: Reads,
    if_none_match: str | None,
    build: Build,
) -> Response:
    """The response for a GET page drawn by `build` (see the module's docstring)."""
    newest = await run_in_threadpool(store.current)
    etag = render.page_etag(
        newest.revision, request.url.path, list(request.query_params.multi_items())
    )
    if render.matches(if_none_match, etag):
        return render.not_modified(etag)
    try:
        snap = await run_in_threadpool(snapshot_at, store, newest, request.query_params.get("at"))

        def draw(conn: sa.Connection) -> str | Rendered:
            return build(snap, newest, views.revision_index(conn, newest), conn)

        drawn = await reads.run(draw)
    except ProblemError as exc:
        return error_page(exc, newest.revision)
    if isinstance(drawn, Rendered):
        return render.html(drawn.text, status=drawn.status, revision=snap.revision)
    return render.html(drawn, etag=etag, revision=snap.revision)


def common(
    snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, request: Request
) -> dict[str, object]:
    """What every page's layout shows: the revision read, the newest, the revision picker."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "at"]
    return {
        "snap": snap,
        "newest": newest.revision,
        "at": snap.revision if snap.revision != newest.revision else None,
        "revisions": index.picker(snap.revision),
        "latest_url": request.url.path + ("?" + urlencode(params) if params else ""),
    }
