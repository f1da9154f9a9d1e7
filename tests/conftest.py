"""Shared fixtures: a migrated database per test and a client that talks HTTP to the app."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service import db as migrate
from service.app import create_app
from service.config import Settings
from tests.helpers import Headers, make_key

BACKEND = os.environ.get("FTM_TEST_DB", "sqlite")
_counter = itertools.count()


def _postgres_admin_url() -> str:
    url = os.environ.get("FTM_TEST_POSTGRES_URL")
    if not url:
        message = "FTM_TEST_DB=postgresql needs FTM_TEST_POSTGRES_URL (see scripts/with-postgres)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # in CI a PostgreSQL run that cannot connect must fail
        pytest.skip(message)
    return url


def _postgres(statement: str) -> None:
    engine = sa.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _database_name(kind: str, worker_id: str) -> str:
    return f"ftm_{kind}_{worker_id}_{os.getpid()}_{next(_counter)}"


@contextlib.contextmanager
def fresh_database(tmp_path: Path, worker_id: str, template: str | None = None) -> Iterator[str]:
    """An empty database (or a copy of `template`) on the backend under test, dropped after."""
    if BACKEND == "sqlite":
        path = tmp_path / f"{next(_counter)}.db"
        if template is not None:
            shutil.copyfile(make_url(template).database or "", path)
        yield f"sqlite:///{path}"
        return
    name = _database_name("t", worker_id)
    source = f" TEMPLATE {make_url(template).database}" if template else ""
    _postgres(f'CREATE DATABASE "{name}"{source}')
    try:
        yield make_url(_postgres_admin_url()).set(database=name).render_as_string(False)
    finally:
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """A database migrated to head once per session (and worker); tests get copies of it."""
    if BACKEND == "sqlite":
        # tests.published migrates a SQLite file once per process to learn CURRENT; tests only
        # ever copy the template, so that file serves as it is.
        from tests.published import migrated_sqlite

        yield f"sqlite:///{migrated_sqlite()}"
        return
    with fresh_database(tmp_path_factory.mktemp("template"), worker_id) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """A fresh copy of the migrated database for one test."""
    with fresh_database(tmp_path, worker_id, template=migrated_template) as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Path, worker_id: str) -> Iterator[str]:
    """An empty database, for migration tests."""
    with fresh_database(tmp_path, worker_id) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A real `ftmatrix serve` process on 127.0.0.1, stopped when the test ends."""

    def __init__(self, database_url: str, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
             "--workers", str(workers)],
            env={**os.environ, "FTM_DATABASE_URL": database_url, **env},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start-up:\n{self._close_log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> str:
        """Close the server's stderr file and return what it wrote (the tail of a traceback)."""
        if self.log.closed:
            return ""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        self.log.close()
        return text[-4000:]


@pytest.fixture
def live_server(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start real server processes on the test's database: `live_server(workers=1)`."""
    started: list[LiveServer] = []

    def start(**kwargs: Any) -> LiveServer:
        server = LiveServer(database_url, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def write_key(database_url: str) -> str:
    return make_key(database_url, "curator", "write")


@pytest.fixture
def admin_key(database_url: str) -> str:
    return make_key(database_url, "root", "admin")


@pytest.fixture
def read_key(database_url: str) -> str:
    return make_key(database_url, "reader", "read")


@pytest.fixture
def h(write_key: str) -> Headers:
    """Headers of a write: key, reason and If-Match (the current revision unless told)."""
    # Imported here, not at the top: it migrates a database, which tests without one never need.
    from tests.published import CURRENT

    def build(rev: int | None = CURRENT, reason: str | None = "test edit", key: str | None = None,
              **extra: str) -> dict[str, str]:  # fmt: skip
        out = {"Authorization": f"Bearer {key or write_key}"}
        if reason is not None:
            out["X-Change-Reason"] = reason
        if rev is not None:
            out["If-Match"] = f'"rev-{rev}"'
        return out | extra

    return build
