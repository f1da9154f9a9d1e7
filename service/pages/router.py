"""The human pages' routes: the matrix at `/`, cells, diffs, techniques, pairs and checks.

Every page takes `at=N` (time travel) and keeps all its state in the URL. Pages carry an ETag
made of the newest revision and a digest of the URL and assets, answer a matching
If-None-Match with 304, and render bad input as an HTML page with the API's message and status.
None of them is part of the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.catalog import service as catalog
from service.errors import BadRequest, NotFound, ProblemError, UnsupportedMediaType
from service.pages import checks, pairs, render, views
from service.snapshot import Snapshot, SnapshotStore
from service.web.auth import reader
from service.web.deps import ReadsDep, StoreDep

router = APIRouter(include_in_schema=False, dependencies=[Depends(reader)])

IfNoneMatch = Annotated[str | None, Header()]
Build = Callable[[Snapshot, Snapshot, views.RevisionIndex, sa.Connection], str]
"""Renders a page from (the snapshot read, the newest one, the history, a connection)."""


def _snapshot(store: SnapshotStore, newest: Snapshot, at: str | None) -> Snapshot:
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


async def _page(
    request: Request,
    store: SnapshotStore,
    reads: ReadsDep,
    if_none_match: str | None,
    build: Build,
) -> Response:
    newest = await run_in_threadpool(store.current)
    etag = render.page_etag(
        newest.revision, request.url.path, list(request.query_params.multi_items())
    )
    if render.matches(if_none_match, etag):
        return render.not_modified(etag)
    try:
        snap = await run_in_threadpool(_snapshot, store, newest, request.query_params.get("at"))

        def draw(conn: sa.Connection) -> str:
            return build(snap, newest, views.revision_index(conn, newest), conn)

        text = await reads.run(draw)
    except ProblemError as exc:
        return error_page(exc, newest.revision)
    return render.html(text, etag=etag, revision=snap.revision)


def _common(
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


@router.get("/")
async def matrix_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: IfNoneMatch = None
) -> Response:
    """The matrix: scenarios x techniques, filtered and paged, with a cell's panel open."""
    params = request.query_params

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        q = views.matrix_query(
            snap,
            params.get("kind"),
            params.getlist("support"),
            params.getlist("technique"),
            params.get("page"),
            params.get("cols"),
        )
        opened = params.get("cell")
        detail = views.cell_detail(snap, index, *views.split_cell(opened)) if opened else None
        return render.render(
            "matrix.html",
            **_common(snap, newest, index, request),
            q=q,
            window=views.matrix_window(snap, q),
            detail=detail,
        )

    return await _page(request, store, reads, if_none_match, build)


@router.get("/cells/{scenario}/{technique}")
async def cell_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    scenario: str,
    technique: str,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One cell: its support, note, sources and the revisions that changed it."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        detail = views.cell_detail(snap, index, scenario, technique)
        return render.render("cell.html", **_common(snap, newest, index, request), detail=detail)

    return await _page(request, store, reads, if_none_match, build)


@router.get("/diff")
async def diff_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: IfNoneMatch = None
) -> Response:
    """What changed between two revisions: highlighted cells and every change listed."""
    params = request.query_params

    def build(
        snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, conn: sa.Connection
    ) -> str:
        end = views.positive("to", params.get("to"), newest.revision)
        start = views.positive("from", params.get("from"), max(end - 1, 1))
        if end > newest.revision:
            raise NotFound(f"Revision {end} does not exist; the newest is {newest.revision}.")
        changes = views.diff(conn, start, end)
        later = store.at(end) or newest
        rows, columns, cells = views.diff_axes(later, changes)
        return render.render(
            "diff.html",
            **_common(snap, newest, index, request),
            changes=changes,
            rows=rows,
            columns=columns,
            cells=cells,
        )

    return await _page(request, store, reads, if_none_match, build)


@router.get("/techniques")
async def techniques_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: IfNoneMatch = None
) -> Response:
    """Every technique, linking to its page."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        return render.render("techniques.html", **_common(snap, newest, index, request))

    return await _page(request, store, reads, if_none_match, build)


@router.get("/techniques/{technique_id}")
async def technique_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    technique_id: str,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One technique: paper, facts, libraries, parent, and the scenarios it suits."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        found = catalog.technique(snap, technique_id)
        return render.render(
            "technique.html",
            **_common(snap, newest, index, request),
            t=catalog.technique_read(snap, found),
            column=catalog.technique_column(snap, found.id),
        )

    return await _page(request, store, reads, if_none_match, build)


@router.get("/pairs")
async def pairs_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: IfNoneMatch = None
) -> Response:
    """The technique x technique heat map of pair verdicts, with a pair's fact open."""
    params = request.query_params

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        a, b = params.get("a"), params.get("b")
        if bool(a) != bool(b):
            raise BadRequest("Give both a and b to open a pair.")
        detail = pairs.pair_detail(snap, a, b) if a and b else None
        return render.render(
            "pairs.html",
            **_common(snap, newest, index, request),
            heat=pairs.heat_map(snap),
            detail=detail,
        )

    return await _page(request, store, reads, if_none_match, build)


@router.get("/pairs/{a}/{b}")
async def pair_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    a: str,
    b: str,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One pair: verdict, caveats, required settings, versions and sources."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        detail = pairs.pair_detail(snap, a, b)
        return render.render("pair.html", **_common(snap, newest, index, request), detail=detail)

    return await _page(request, store, reads, if_none_match, build)


@router.get("/check")
async def check_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: IfNoneMatch = None
) -> Response:
    """The check form; with `technique` (and `pins`, `scenario`) in the query, its report."""
    params = request.query_params

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        picked = params.getlist("technique")
        pins, scenarios = params.get("pins", ""), params.getlist("scenario")
        outcome = checks.pick_check(snap, picked, scenarios, pins) if picked or pins else None
        return render.render(
            "check.html",
            **_common(snap, newest, index, request),
            outcome=outcome,
            form={"technique": picked, "pins": pins, "scenario": scenarios},
            pasted=None,
            kinds=checks.KIND_NAMES,
        )

    return await _page(request, store, reads, if_none_match, build)


@router.post("/check")
async def check_paste(request: Request, store: StoreDep, reads: ReadsDep) -> Response:
    """Check a pasted config (form fields `text`, `name`, `kind`, `scenario`); stores nothing."""
    newest = await run_in_threadpool(store.current)
    try:
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            raise UnsupportedMediaType("Send the check form (application/x-www-form-urlencoded).")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        text = (_first(form, "text") or "").replace("\r\n", "\n")
        snap = await run_in_threadpool(_snapshot, store, newest, _first(form, "at"))
        name, kind = _first(form, "name") or "", _first(form, "kind") or ""
        scenarios = form.get("scenario", [])

        def draw(conn: sa.Connection) -> str:
            outcome = checks.paste_check(snap, text, name, kind, scenarios)
            return render.render(
                "check.html",
                **_common(snap, newest, views.revision_index(conn, newest), request),
                outcome=outcome,
                form={"technique": [], "pins": "", "scenario": scenarios},
                pasted={"text": text, "name": name, "kind": kind},
                kinds=checks.KIND_NAMES,
            )

        page = await reads.run(draw)
    except ProblemError as exc:
        return error_page(exc, newest.revision)
    return render.html(page, revision=snap.revision)


def _first(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None
