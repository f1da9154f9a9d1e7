"""Which revision is newest and which generation the API keys are at, asked before every answer.

The rule every watch here keeps: a request's answer comes from a look at the database that
started after the request arrived. A write acknowledged anywhere (any process, any worker) has
committed before its acknowledgement, so it is seen, and no read answers from a revision, or
admits a key, older than it.

- SQLite in WAL mode (`SqliteWatch`): every commit rewrites the wal-index header at the start of
  the `-shm` file; an unchanged header means no commit since the last query and costs a memory
  read; a changed one triggers the query.
- PostgreSQL with psycopg 3 (`PostgresWatch`): one dedicated autocommit connection per process,
  one prepared statement, and concurrent requests coalesced (`Coalesced`): a request waits for
  the next query to start, and one query answers every request that arrived before it started.
- Any other database (`EngineWatch`): the same coalescing, the query through the engine's pool.

The watch a request was answered with is kept in its ASGI scope (`remember`), so the key check
further in (`service.web.auth`) uses the same look instead of making a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import mmap
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from service.db import FRESHNESS_SQL

WAL_INDEX_HEADER = 48  # bytes of the first copy of the wal-index header
_SCOPE_KEY = "ftm.seen"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class Seen:
    """What one look at the database found: the newest revision and the keys' generation."""

    revision: int
    keys: int


# Stand-ins for a key generation the database cannot tell (its counter row deleted by hand):
# each look then gets one never seen before, so no cached key verdict outlives it.
_UNKNOWN_GENERATIONS = itertools.count(-2, -1)


def _seen(row: Any) -> Seen:
    keys = int(row[1]) if row[1] is not None else next(_UNKNOWN_GENERATIONS)
    return Seen(int(row[0] or 0), keys)


class Watch(Protocol):
    """Answers "what is the database at now?" by a look that starts after the call."""

    async def current(self) -> Seen: ...

    async def aclose(self) -> None: ...


def remember(scope: Scope, seen: Seen) -> None:
    """Keep the look a request was checked with, for the layers further in."""
    scope.setdefault("state", {})[_SCOPE_KEY] = seen


def seen_in(scope: Scope) -> Seen | None:
    """The look `remember` kept for this request, if an outer layer made one."""
    found = scope.get("state", {}).get(_SCOPE_KEY)
    return found if isinstance(found, Seen) else None


class SqliteWatch:
    """SQLite: the wal-index header is compared first, the database queried only on a change.

    See https://www.sqlite.org/walformat.html: every commit, from any process, changes the
    header (its `iChange` counter, frame count and checksums). `PRAGMA data_version` is the
    fallback when the file cannot be mapped (not in WAL mode); an in-memory database is asked
    through the engine each time.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database
        self.path = database if database and database != ":memory:" else None
        self._conn: sqlite3.Connection | None = None
        self._shm: mmap.mmap | None = None
        self._header = b""
        self._data_version = -1
        self._seen = Seen(-1, -1)
        self.queries = 0

    def _open(self, path: str) -> sqlite3.Connection:
        # Autocommit, read-only use: each statement sees the latest commit. Kept open, so the
        # -shm file stays in place for the life of the process.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(FRESHNESS_SQL).fetchall()  # also says "unmigrated" before any mapping
        except BaseException:
            conn.close()
            raise
        try:
            with open(f"{path}-shm", "rb") as shm:
                self._shm = mmap.mmap(shm.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self._shm = None  # not in WAL mode: fall back to PRAGMA data_version
        return conn

    def now(self) -> Seen:
        """The look, synchronously (it never waits on the network).

        sqlite3's errors come out as SQLAlchemy's, as from the engine, so that every layer
        renders an unmigrated or unreadable database as its 503 problem.
        """
        try:
            return self._now()
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                FRESHNESS_SQL, None, exc, sqlite3.Error, hide_parameters=True
            ) from exc

    def _now(self) -> Seen:
        if self.path is None:
            with self.engine.connect() as conn:
                self.queries += 1
                return _seen(conn.execute(text(FRESHNESS_SQL)).one())
        if self._conn is None:
            self._conn = self._open(self.path)
        db = self._conn
        if self._shm is not None:
            header = self._shm[:WAL_INDEX_HEADER]
            if header == self._header:
                return self._seen
            # Header first, query second: a commit in between is seen again next time.
            self._header = header
        else:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return self._seen
            self._data_version = version
        self.queries += 1
        try:
            self._seen = _seen(db.execute(FRESHNESS_SQL).fetchone())
        except BaseException:
            self._header, self._data_version = b"", -1  # ask again next time
            raise
        return self._seen

    async def current(self) -> Seen:
        return self.now()

    async def aclose(self) -> None:
        if self._shm is not None:
            self._shm.close()
            self._shm = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Coalesced:
    """Runs `query` for concurrent callers, one query at a time, each caller answered by a query
    that started after it called.

    A caller joins the batch waiting for the next query; when the query in flight ends, the
    next one starts for the whole batch. So a caller waits for at most two queries (the one in
    flight when it arrived, then its own), and there is never more than one query in flight,
    whatever the load. A failed query raises its error in every caller of its batch.
    """

    def __init__(self, query: Callable[[], Awaitable[Seen]]) -> None:
        self._query = query
        # One future per caller, not one per batch: a caller that goes away cancels its own,
        # never the answer of the others (and costs less than asyncio.shield).
        self._batch: list[asyncio.Future[Seen]] = []
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.queries = 0
        """Queries started, for tests and diagnostics."""

    async def __call__(self) -> Seen:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a test client per request): start over
            self._loop, self._batch, self._runner = loop, [], None
        waiter: asyncio.Future[Seen] = loop.create_future()
        self._batch.append(waiter)
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await waiter

    async def _run(self) -> None:
        batch: list[asyncio.Future[Seen]] = []
        try:
            while self._batch:
                # Everyone in this batch called before the query below starts.
                batch, self._batch = self._batch, []
                self.queries += 1
                try:
                    seen = await self._query()
                except Exception as exc:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                            waiter.exception()  # retrieved: a caller that left must not log it
                else:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_result(seen)
                batch = []
        finally:
            self._runner = None
            for waiter in (*batch, *self._batch):
                waiter.cancel()
            self._batch = []


class PostgresWatch:
    """PostgreSQL through psycopg 3: one autocommit connection of its own, a prepared statement,
    concurrent looks coalesced; reconnects after a failure.

    Errors come out as SQLAlchemy's (`DBAPIError.instance`), as from the engine, so the guard
    renders an unreachable or unmigrated database as its 503 problem.
    """

    def __init__(self, engine: Engine) -> None:
        _, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters: the statement has no parameters
        self._params = dict(params)
        # A server that drops packets must not hold every request for the kernel's TCP timeout:
        # give up (a 503) after this many seconds, unless the URL says otherwise.
        self._params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        self._conn: Any = None  # psycopg.AsyncConnection, imported only when PostgreSQL is used
        self._conn_loop: asyncio.AbstractEventLoop | None = None
        self.coalesced = Coalesced(self._query)

    async def current(self) -> Seen:
        return await self.coalesced()

    async def _query(self) -> Seen:
        import psycopg

        loop = asyncio.get_running_loop()
        if self._conn is not None and (self._conn.closed or self._conn_loop is not loop):
            await self._drop()
        try:
            if self._conn is None:
                self._conn = await psycopg.AsyncConnection.connect(autocommit=True, **self._params)
                self._conn_loop = loop
            cursor = await self._conn.execute(FRESHNESS_SQL, prepare=True)
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            if self._conn is not None and (
                self._conn.broken or isinstance(exc, psycopg.OperationalError)
            ):
                await self._drop()
            raise sa_exc.DBAPIError.instance(
                FRESHNESS_SQL, None, exc, psycopg.Error, hide_parameters=True
            ) from exc
        return _seen(row)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # psycopg's close() only finishes the libpq connection (no I/O awaited), so it also
            # works for a connection opened on an event loop that has ended; a broken
            # connection may fail to close, and is gone either way.
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        await self._drop()


class EngineWatch:
    """Any other database: the query through the engine's pool in a worker thread, coalesced."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.coalesced = Coalesced(self._query)

    async def current(self) -> Seen:
        return await self.coalesced()

    def _read(self) -> Seen:
        with self.engine.connect() as conn:
            return _seen(conn.execute(text(FRESHNESS_SQL)).one())

    async def _query(self) -> Seen:
        return await run_in_threadpool(self._read)

    async def aclose(self) -> None:
        return None


def watch_for(engine: Engine) -> SqliteWatch | PostgresWatch | EngineWatch:
    """The cheapest strict watch for the engine's database."""
    if engine.dialect.name == "sqlite":
        return SqliteWatch(engine)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PostgresWatch(engine)
    return EngineWatch(engine)
