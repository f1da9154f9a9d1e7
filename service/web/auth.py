"""The FastAPI dependencies that admit API keys (`service.keys` does the verifying), and the
gate both they and the fast path admit keys through: verdicts cached per process, trusted only
at the key generation the database is at when the request is checked."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from service.errors import Forbidden, Unauthorized
from service.keys import CHALLENGE, KeyCache, Principal, Verdict, principal_of, unauthorized, verify
from service.vocabulary import SCOPES
from service.vocabulary import Scope as KeyScope
from service.web.context import request_state
from service.web.revision import Seen, Watch, seen_in


class KeyGate:
    """Verdicts on bearer tokens: from the cache when the key table has not changed since they
    were made, else from one query in a worker thread (and then cached).

    `seen` is a look at the database that started after the request arrived (the fast path's,
    kept in the scope, or a new one): a key revoked, created or edited before that look is
    judged as it is now, in every process.
    """

    def __init__(self, engine: Engine, watch: Watch, cache: KeyCache | None = None) -> None:
        self.engine = engine
        self.watch = watch
        self.cache = cache if cache is not None else KeyCache()
        self.lookups = 0
        """Verdicts asked of the database (cache misses), for tests and diagnostics."""

    async def seen(self, scope: Scope) -> Seen:
        """The look this request was checked with, or a new one."""
        return seen_in(scope) or await self.watch.current()

    def cached(self, token: str, seen: Seen) -> Verdict | None:
        """The verdict on `token` valid at `seen`, without waiting (None: not known)."""
        self.cache.sync(seen.keys)
        return self.cache.get(token)

    async def verdict(self, token: str, seen: Seen) -> Verdict:
        """The verdict on `token` at `seen` or later: cached, or looked up and cached."""
        found = self.cached(token, seen)
        if found is None:
            found = await run_in_threadpool(self._lookup, token)
            self.cache.put(token, found, seen.keys)
        return found

    def _lookup(self, token: str) -> Verdict:
        self.lookups += 1
        with self.engine.connect() as conn:
            return verify(conn, token)


def bearer_in(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (None when it is not one)."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_token(request: Request) -> str | None:
    """The request's bearer token; None without `Authorization`, a 401 for another scheme."""
    header = request.headers.get("authorization")
    if not header:
        return None
    token = bearer_in(header)
    if token is None:
        raise unauthorized("Send the key as `Authorization: Bearer <key>`.")
    return token


def key_gate(request: Request) -> KeyGate:
    """The application's gate (create_app puts it in `app.state.keys`)."""
    gate: KeyGate = request.app.state.keys
    return gate


async def check_key(request: Request, scope: KeyScope) -> Principal:
    """Admit a key with at least `scope` (401 without a valid key, 403 with a narrower one)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized(
            f"This operation needs an API key with scope {scope!r}.",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    gate = key_gate(request)
    verdict = await gate.verdict(token, await gate.seen(request.scope))
    principal = principal_of(verdict, time.time())
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


def requires(scope: KeyScope) -> Any:
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
