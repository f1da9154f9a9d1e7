"""The application factory: routers, middleware, error handlers; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from service import __version__
from service.admin.router import admin as admin_router
from service.admin.router import router as curation_router
from service.admin.schemas import MatrixPatch
from service.catalog.router import router as catalog_router
from service.compat.router import router as compat_router
from service.config import Settings, get_settings
from service.db import create_db_engine
from service.deps import NotModified
from service.errors import Problem
from service.history.router import router as history_router
from service.http_errors import install_error_handlers
from service.middleware import RequestContext
from service.snapshot import SnapshotStore

ROUTERS = (catalog_router, compat_router, history_router, curation_router, admin_router)

DESCRIPTION = """\
Which fine-tuning technique suits which scenario, with the sources behind every answer.

Every response names the revision it was read from (`ETag` and a `revision` field); every read
takes `at=N` to read as of revision N. Errors are RFC 9457 `application/problem+json`.
"""


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: the route function's name (`verb_noun`)."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for `settings` (the environment's when not given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="ftmatrix",
        version=__version__,
        description=DESCRIPTION,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    engine = create_db_engine(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = SnapshotStore(engine, settings.snapshot_cache_size)

    install_error_handlers(app)
    app.add_middleware(RequestContext, engine=lambda: app.state.engine)

    async def on_not_modified(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotModified)
        return Response(status_code=304, headers={"ETag": exc.etag})

    app.add_exception_handler(NotModified, on_not_modified)
    for router in ROUTERS:
        app.include_router(router)

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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
