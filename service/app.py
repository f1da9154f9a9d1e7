"""The application factory: routers, middleware, error handlers; nothing else."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from service import __version__
from service.admin.router import admin as admin_router
from service.admin.router import router as curation_router
from service.admin.schemas import MatrixPatch
from service.catalog.router import router as catalog_router
from service.compat.router import router as compat_router
from service.config import Settings, get_settings
from service.db import create_db_engine
from service.errors import Problem
from service.estimates.router import router as estimates_router
from service.history import audit
from service.history.router import router as history_router
from service.offerings.router import router as offerings_router
from service.pages.render import STATIC as PAGES_STATIC
from service.pages.router import router as pages_router
from service.snapshot import PACK_LIMIT, Section, SnapshotStore
from service.web import contract
from service.web.access import AccessLog
from service.web.auth import KeyGate
from service.web.deps import reject_unknown_query
from service.web.fastpath import FastReads
from service.web.guard import Guard
from service.web.lane import WriteLane
from service.web.metrics import FLUSH_EVERY_S, Metrics
from service.web.middleware import AttemptFields, RequestContext
from service.web.ops import router as ops_router
from service.web.problems import install_error_handlers
from service.web.revision import watch_for

ROUTERS = (
    catalog_router,
    compat_router,
    offerings_router,
    estimates_router,
    history_router,
    curation_router,
    admin_router,
    ops_router,
    pages_router,
)

DESCRIPTION = """\
Which fine-tuning technique suits which scenario, with the sources behind every answer.

Every response names the revision it was read from (`ETag` and a `revision` field); every read
takes `at=N` to read as of revision N. Errors are RFC 9457 `application/problem+json`.
"""


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: the route function's name (`verb_noun`)."""
    return route.name


GC_THRESHOLDS = (700, 10, 100)
"""The cyclic collector's thresholds once the startup objects are frozen: CPython's own, but a
full collection after 100 collections of the middle generation rather than 10. CPython skips a
full collection while fewer objects than a quarter of those it found alive last time have been
promoted since; with the process's long-lived objects frozen, a full collection finds few alive
(only what was made since startup), so from the first one on every 10th middle collection
became a full one. A bulk edit of 20,000 cells allocates enough to trigger two, each walking
all of its live edits and diff records (about 100 ms) and freeing nothing: a quarter of an
import's time. Reference counting frees everything else as before."""

DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, with scripts and styles served from here."""
    app.mount("/static/docs", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="ftmatrix API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="ftmatrix API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )


async def _flush_metrics(metrics: Metrics) -> None:
    """Write this worker's metric totals for the others' scrapes, twice a second."""
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        metrics.flush()


class Service(FastAPI):
    """The FastAPI app, with `service.web.guard` outermost and `service.web.fastpath` in front
    of its whole middleware stack."""

    fast: FastReads | None = None
    guard: Guard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None and scope["type"] == "http":
            await self.guard(scope, receive, send)
        else:
            await self.dispatch(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app behind the guard: the fast path, then FastAPI's whole stack."""
        if self.fast is not None and scope["type"] == "http":
            await self.fast(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for `settings` (the environment's when not given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything allocated so far (framework, routes, schemas) lives as long as the process:
        # move it out of the collector's way, so young-generation collections stay cheap.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        flusher = asyncio.create_task(_flush_metrics(app.state.metrics))
        yield
        flusher.cancel()
        app.state.metrics.flush()
        app.state.access.flush()
        await app.state.keys.watch.aclose()
        app.state.engine.dispose()

    app = Service(
        title="ftmatrix",
        version=__version__,
        description=DESCRIPTION,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Our own metrics and logs cover requests; FastAPI's OpenTelemetry probe would otherwise
        # look up providers and environment variables on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    engine = create_db_engine(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = SnapshotStore(engine, settings.snapshot_cache_size, pack_limit=PACK_LIMIT)

    app.state.metrics = Metrics(settings.metrics_dir, __version__)
    install_error_handlers(app)
    access = app.state.access = AccessLog()

    def record_attempt(attempt: AttemptFields) -> None:
        with app.state.engine.begin() as conn:
            audit.record(conn, audit.Attempt(**asdict(attempt)))

    app.add_middleware(
        RequestContext,
        record=record_attempt,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        access=access,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match",
                           "X-Change-Reason", "X-Request-ID"],
            expose_headers=["ETag", "X-Revision", "X-Request-ID"],
        )  # fmt: skip
    install_docs(app)
    app.mount("/static/pages", StaticFiles(directory=PAGES_STATIC), name="pages-assets")
    # One look at the database per request, shared by the fast path and the key checks.
    gate = app.state.keys = KeyGate(engine, watch_for(engine))
    store: SnapshotStore = app.state.store

    async def changes(before: int, after: int) -> frozenset[Section] | None:
        """What the snapshot of `after` changed from that of `before`, when it was patched
        from it (loading it, as the next miss would, when it is not in memory yet)."""
        snap = store.ready(after) or await run_in_threadpool(store.at, after)
        if snap is None or snap.changed is None or snap.changed.since != before:
            return None
        return snap.changed.sections

    app.fast = FastReads(
        WriteLane(partial(FastAPI.__call__, app), settings.max_body_bytes),
        gate,
        app.state.metrics,
        access,
        enabled=settings.fast_path,
        require_key=settings.require_read_key,
        changes=changes,
    )

    app.guard = Guard(app.dispatch, settings.max_header_bytes)

    for router in ROUTERS:
        strict = [Depends(reject_unknown_query)] if router.prefix.startswith("/v1") else []
        app.include_router(router, dependencies=strict)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, MatrixPatch):
                # Referenced by hand-written content entries, so FastAPI does not collect them.
                extra = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(extra.pop("$defs", {}))
                schemas[model.__name__] = extra
            app.openapi_schema = contract.complete(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
