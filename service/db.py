"""Engine, sessions, migrations, and the one answer to "which revision is newest".

SQLite gets WAL (readers never block the writer), a busy timeout (concurrent writers wait instead
of failing with "database is locked") and enforced foreign keys, on every connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from service.config import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily and breaks SAVEPOINT and
    # BEGIN IMMEDIATE; take control of it (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of both reading and then one failing to upgrade its lock (SQLITE_BUSY).
    write = conn.get_execution_options().get("ftm_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def json_text(value: Any) -> str:
    """How JSON columns are written: compact JSON from pydantic-core (a bulk edit's diff holds
    tens of thousands of changes; `json.dumps` takes twice as long), the empty list (most
    cells' sources) and object without encoding them."""
    if value == [] or value == {}:
        return "[]" if isinstance(value, list) else "{}"
    return to_json(value).decode()


def create_db_engine(settings: Settings) -> Engine:
    """An engine for `settings.database_url`, with pragmas and a pool sized for the threadpool."""
    url = make_url(settings.database_url)
    kwargs: dict[str, Any] = {"json_serializer": json_text}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=30)
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(
            pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=True
        )
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any exception.

    `write=True` makes SQLite start the transaction with BEGIN IMMEDIATE.
    """
    bind = engine.execution_options(ftm_write=True) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


NEWEST_REVISION_SQL = "SELECT max(number) FROM revision"
"""The one question "which revision is newest" (the fast path asks `FRESHNESS_SQL` instead)."""


FRESHNESS_SQL = (
    "SELECT (SELECT max(number) FROM revision), (SELECT generation FROM api_key_generation)"
)
"""The newest revision and the API keys' generation (`models.ApiKeyGeneration`), in one
statement, so from one snapshot: what `service.web.revision` asks before answering a request."""


def current_revision(conn: sa.Connection) -> int:
    """The newest revision number (0 on an empty database)."""
    value = conn.execute(sa.text(NEWEST_REVISION_SQL)).scalar()
    return int(value or 0)


def schema_version(conn: sa.Connection) -> str | None:
    """The Alembic revision the database schema is at (None when unmigrated)."""
    value = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the project's migrations against `database_url`."""
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, target: str = "head") -> None:
    """Apply migrations up to `target` (the CLI and the tests run these, not a shell)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), target)


def downgrade(database_url: str, target: str = "base") -> None:
    """Revert migrations down to `target`."""
    from alembic import command

    command.downgrade(alembic_config(database_url), target)
