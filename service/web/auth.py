"""The FastAPI dependencies that admit API keys (`service.keys` does the verifying)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from service.errors import Forbidden, Unauthorized
from service.keys import CHALLENGE, Principal, authenticate, unauthorized
from service.vocabulary import SCOPES, Scope
from service.web.context import request_state


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Send the key as `Authorization: Bearer <key>`.")
    return token.strip()


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def check_key(request: Request, scope: Scope) -> Principal:
    """Admit a key with at least `scope` (401 without a valid key, 403 with a narrower one)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized(
            f"This operation needs an API key with scope {scope!r}.",
            headers={"WWW-Authenticate": CHALLENGE},
        )

    def lookup() -> Principal:
        with _engine(request).connect() as conn:
            return authenticate(conn, token)

    principal = await run_in_threadpool(lookup)
    # The audit middleware reads this to name the caller of a refused write.
    request_state(request).key_name = principal.name
    if SCOPES.index(principal.scope) < SCOPES.index(scope):
        raise Forbidden(
            f"The key {principal.name!r} has scope {principal.scope!r}; "
            f"this operation needs {scope!r}.",
            allowed=list(SCOPES[SCOPES.index(scope) :]),
        )
    return principal


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An ftmatrix API key: `Authorization: Bearer ftm_...`.",
)


def requires(scope: Scope) -> Any:
    """A dependency admitting keys with at least `scope`; it resolves to the `Principal`.

    It also declares the bearer scheme on the operation in the OpenAPI document.
    """

    async def dependency(
        request: Request, _credentials: Annotated[Any, Security(BEARER)] = None
    ) -> Principal:
        return await check_key(request, scope)

    return Depends(dependency)


async def reader(request: Request) -> None:
    """On reads: open, unless FTM_REQUIRE_READ_KEY is set, then at least a `read` key."""
    if request.app.state.settings.require_read_key:
        await check_key(request, "read")


WriteKey = Annotated[Principal, requires("write")]
AdminKey = Annotated[Principal, requires("admin")]
