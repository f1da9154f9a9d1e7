"""The human pages' routes: the matrix at `/`, cells, diffs, techniques, pairs, checks, where a
job can run (`/where`), the models and hardware (`/models`) and the estimator (`/estimate`).

Every page takes `at=N` (time travel) and keeps all its state in the URL. Pages carry an ETag
made of the newest revision and a digest of the URL and assets, answer a matching
If-None-Match with 304, and render bad input as an HTML page with the API's message and status
(`service.pages.serve`). None of them is part of the OpenAPI document.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.catalog import service as catalog
from service.errors import BadRequest, NotFound, ProblemError, UnsupportedMediaType
from service.pages import checks, estimate, pairs, render, serve, views, where
from service.snapshot import Snapshot
from service.web.auth import reader
from service.web.deps import ReadsDep, StoreDep

router = APIRouter(include_in_schema=False, dependencies=[Depends(reader)])


@router.get("/")
async def matrix_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
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
            **serve.common(snap, newest, index, request),
            q=q,
            window=views.matrix_window(snap, q),
            detail=detail,
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/cells/{scenario}/{technique}")
async def cell_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    scenario: str,
    technique: str,
    if_none_match: serve.IfNoneMatch = None,
) -> Response:
    """One cell: its support, note, sources and the revisions that changed it."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        detail = views.cell_detail(snap, index, scenario, technique)
        return render.render(
            "cell.html", **serve.common(snap, newest, index, request), detail=detail
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/diff")
async def diff_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
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
            **serve.common(snap, newest, index, request),
            changes=changes,
            rows=rows,
            columns=columns,
            cells=cells,
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/techniques")
async def techniques_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
) -> Response:
    """Every technique, linking to its page."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        return render.render("techniques.html", **serve.common(snap, newest, index, request))

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/techniques/{technique_id}")
async def technique_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    technique_id: str,
    if_none_match: serve.IfNoneMatch = None,
) -> Response:
    """One technique: paper, facts, libraries, parent, and the scenarios it suits."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        found = catalog.technique(snap, technique_id)
        return render.render(
            "technique.html",
            **serve.common(snap, newest, index, request),
            t=catalog.technique_read(snap, found),
            column=catalog.technique_column(snap, found.id),
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/pairs")
async def pairs_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
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
            **serve.common(snap, newest, index, request),
            heat=pairs.heat_map(snap),
            detail=detail,
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/pairs/{a}/{b}")
async def pair_page(
    request: Request,
    store: StoreDep,
    reads: ReadsDep,
    a: str,
    b: str,
    if_none_match: serve.IfNoneMatch = None,
) -> Response:
    """One pair: verdict, caveats, required settings, versions and sources."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        detail = pairs.pair_detail(snap, a, b)
        return render.render(
            "pair.html", **serve.common(snap, newest, index, request), detail=detail
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/check")
async def check_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
) -> Response:
    """The check form; with `technique` (and `pins`, `scenario`) in the query, its report."""
    params = request.query_params

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        picked = params.getlist("technique")
        pins, scenarios = params.get("pins", ""), params.getlist("scenario")
        outcome = checks.pick_check(snap, picked, scenarios, pins) if picked or pins else None
        return render.render(
            "check.html",
            **serve.common(snap, newest, index, request),
            outcome=outcome,
            form={"technique": picked, "pins": pins, "scenario": scenarios},
            pasted=None,
            kinds=checks.KIND_NAMES,
        )

    return await serve.page(request, store, reads, if_none_match, build)


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
        snap = await run_in_threadpool(serve.snapshot_at, store, newest, _first(form, "at"))
        name, kind = _first(form, "name") or "", _first(form, "kind") or ""
        scenarios = form.get("scenario", [])

        def draw(conn: sa.Connection) -> str:
            outcome = checks.paste_check(snap, text, name, kind, scenarios)
            return render.render(
                "check.html",
                **serve.common(snap, newest, views.revision_index(conn, newest), request),
                outcome=outcome,
                form={"technique": [], "pins": "", "scenario": scenarios},
                pasted={"text": text, "name": name, "kind": kind},
                kinds=checks.KIND_NAMES,
            )

        page = await reads.run(draw)
    except ProblemError as exc:
        return serve.error_page(exc, newest.revision)
    return render.html(page, revision=snap.revision)


@router.get("/where")
async def where_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
) -> Response:
    """Where a job can run: with `model` (and repeated `technique`), the ranked offerings and
    why each other one is excluded, as `GET /v1/where` answers."""
    params = request.query_params

    def build(
        snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object
    ) -> str | serve.Rendered:
        model = params.get("model", "").strip()
        picked = [t for t in params.getlist("technique") if t.strip()]
        context = {
            **serve.common(snap, newest, index, request),
            "models": where.model_choices(snap),
            "techniques": where.technique_choices(snap),
            "form": {"model": model, "technique": picked},
        }
        try:
            view = where.where_view(snap, model, picked) if model else None
        except ProblemError as exc:
            text = render.render("where.html", **context, view=None, problem=exc)
            return serve.Rendered(text, exc.status)
        return render.render("where.html", **context, view=view, problem=None)

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/models")
async def models_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
) -> Response:
    """Models (lifecycle and shape), hardware and platforms, as the JSON lists read them."""

    def build(snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object) -> str:
        return render.render(
            "models.html", **serve.common(snap, newest, index, request), listing=where.listing(snap)
        )

    return await serve.page(request, store, reads, if_none_match, build)


@router.get("/estimate")
async def estimate_page(
    request: Request, store: StoreDep, reads: ReadsDep, if_none_match: serve.IfNoneMatch = None
) -> Response:
    """Will it fit? The estimator's form; with `model`, the answer of `POST /v1/estimates` for
    it: per-GPU bytes, the fit on each GPU, the picture, assumptions and sources. Input the
    API refuses is its message, with its status (422); nothing is stored."""
    form = estimate.read_form(list(request.query_params.multi_items()))

    def build(
        snap: Snapshot, newest: Snapshot, index: views.RevisionIndex, _: object
    ) -> str | serve.Rendered:
        context = {
            **serve.common(snap, newest, index, request),
            "form": form,
            "options": estimate.options(snap),
            "choices": estimate.CHOICES,
            "defaults": estimate.DEFAULTS,
            "body": estimate.form_body(form),
        }
        try:
            view = estimate.estimate_view(snap, estimate.form_body(form)) if form.asked else None
        except ProblemError as exc:
            text = render.render("estimate.html", **context, view=None, problem=exc)
            return serve.Rendered(text, exc.status)
        return render.render("estimate.html", **context, view=view, problem=None)

    return await serve.page(request, store, reads, if_none_match, build)


def _first(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None
