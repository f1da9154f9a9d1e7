"""The databases a benchmark runs on: a SQLite file, or a throwaway PostgreSQL server.

The PostgreSQL server is started the way the test suite starts one (`scripts/with-postgres`):
Debian's binaries (the newest `/usr/lib/postgresql/<version>/bin`), `initdb` into a temporary
directory of its own, trust authentication for the `postgres` user, listening on a free port
of 127.0.0.1 only (its unix socket in that same directory), `fsync=off` and 300 connections.
As root the server runs as the `postgres` user. It is stopped and its directory removed when
the `throwaway_postgres()` block ends, on an error or ^C as well.

`fsync=off` is what the tests use; it makes commits cheaper than on a durable server, which
matters to the write-heavy figures (the bulk import, reads during writes) and not to reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchError, free_port, log, run_text, tree_cpu_seconds

DATABASES = ("sqlite", "postgresql")
PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
PG_SETTINGS = ("fsync=off", "max_connections=300")
PG_START_TIMEOUT_S = 60
PG_COMMAND_TIMEOUT_S = 120


def database_choices(value: str) -> list[str]:
    """`sqlite`, `postgresql` or `both`, as the list of databases to run on."""
    if value == "both":
        return list(DATABASES)
    if value not in DATABASES:
        raise ValueError(f"--database must be sqlite, postgresql or both, not {value!r}")
    return [value]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_size_mb(path: Path) -> float:
    """The database file with its -wal and -shm files, in MiB."""
    files = [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))]
    return sum(f.stat().st_size for f in files if f.exists()) / (1024 * 1024)


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory; BenchError when there is none."""
    found = [d / "bin" for d in PG_ROOT.glob("*") if (d / "bin" / "initdb").is_file()]
    if not found:
        raise BenchError(
            f"no PostgreSQL binaries under {PG_ROOT} (Debian: apt-get install -y postgresql)"
        )

    def version(bindir: Path) -> tuple[int, ...]:
        name = bindir.parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    return max(found, key=version)


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway PostgreSQL server on 127.0.0.1."""

    bindir: Path
    directory: Path
    port: int
    as_owner: tuple[str, ...]

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL the service connects with (TCP on 127.0.0.1, as in production)."""
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; its URL."""
        run_pg(self, [str(self.bindir / "createdb"), *self.connection_args(), name])
        return self.url(name)

    def drop_database(self, name: str) -> None:
        run_pg(self, [str(self.bindir / "dropdb"), *self.connection_args(), "--force", name])

    def connection_args(self) -> list[str]:
        return ["-h", str(self.directory), "-p", str(self.port), "-U", PG_USER]

    def size_mb(self, database: str) -> float:
        """`pg_database_size` of a database, in MiB."""
        query = f"SELECT pg_database_size('{database}')"
        out = run_pg(
            self,
            [str(self.bindir / "psql"), *self.connection_args(), "-d", database, "-Atc", query],
        )
        try:
            return int(out.strip()) / (1024 * 1024)
        except ValueError as exc:
            raise BenchError(f"pg_database_size answered {out!r}") from exc

    def version(self) -> str:
        return run_text([str(self.bindir / "postgres"), "--version"]) or "unknown"

    def pid(self) -> int | None:
        """The postmaster's process id (not our child: pg_ctl started it in the background)."""
        try:
            return int((self.data / "postmaster.pid").read_text(encoding="ascii").split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: the postmaster and its backends, live or ended."""
        pid = self.pid()
        return tree_cpu_seconds(pid) if pid is not None else 0.0


def run_pg(server: PostgresServer | None, command: Sequence[str], owner: Sequence[str] = ()) -> str:
    """Run a PostgreSQL tool (as the server's owner); its output, or BenchError."""
    prefix = list(server.as_owner if server is not None else owner)
    try:
        done = subprocess.run(
            [*prefix, *command],
            capture_output=True,
            text=True,
            timeout=PG_COMMAND_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a ^C reaches the benchmark only; it stops the server
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{Path(command[0]).name} could not run: {exc}") from exc
    if done.returncode != 0:
        raise BenchError(
            f"{Path(command[0]).name} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


@contextmanager
def throwaway_postgres(keep: bool = False) -> Iterator[PostgresServer]:
    """Start a PostgreSQL server in a new temporary directory; stop it and remove it after
    (with `keep`, stop it and leave the directory, its data and log, in place)."""
    bindir = postgres_bindir()
    directory = Path(tempfile.mkdtemp(prefix="ftm-bench-pg-"))
    owner: tuple[str, ...] = ()
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(directory, user=PG_USER)
        owner = ("runuser", "-u", PG_USER, "--")
    server = PostgresServer(bindir, directory, free_port(), owner)
    started = False
    try:
        log(f"starting a throwaway PostgreSQL ({bindir}) in {directory}")
        initdb = [str(bindir / "initdb"), "-D", str(server.data), "-A", "trust"]
        run_pg(server, [*initdb, "-U", PG_USER, "-E", "UTF8"])
        options = " ".join(
            ["-c listen_addresses=127.0.0.1", f"-p {server.port}", f"-k {directory}"]
            + [f"-c {setting}" for setting in PG_SETTINGS]
        )
        started = True  # from here on, stop it whatever happens
        run_pg(
            server,
            [str(bindir / "pg_ctl"), "-D", str(server.data), "-w", "-t", str(PG_START_TIMEOUT_S),
             "-l", str(directory / "server.log"), "-o", options, "start"],
        )  # fmt: skip
        log(f"PostgreSQL ready on 127.0.0.1:{server.port}")
        yield server
    finally:
        if started:
            stop_postgres(server)
        if keep:
            log(f"kept PostgreSQL's data directory {server.data} (its log: server.log)")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server: `fast` (disconnect everyone, shut down cleanly), else `immediate`."""
    pg_ctl = [str(server.bindir / "pg_ctl"), "-D", str(server.data), "-w", "-t", "30"]
    for mode in ("fast", "immediate"):
        try:
            run_pg(server, [*pg_ctl, "-m", mode, "stop"])
            return
        except BenchError as exc:
            if "Is server running?" in str(exc):
                return
            log(f"PostgreSQL did not stop ({mode}): {exc}")
