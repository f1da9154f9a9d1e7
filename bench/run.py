"""Throughput of the service's reads and checks against a raw ASGI app answering the same bytes.

Run from the repository root (wrk comes from Debian: `apt-get install -y wrk`; PostgreSQL from
`apt-get install -y postgresql`):

    .venv/bin/python bench/run.py [--database sqlite|postgresql|both]
                                  [--scenarios cached,miss,at,auth,writes]
                                  [--duration 10] [--connections 32] [--threads 1] [--warmup 2]
                                  [--retries 1] [--writers 20] [--output bench/results/latest.md]

For each database (a SQLite file, or a throwaway PostgreSQL server started as the tests start
one), it migrates a fresh database (`ftmatrix db upgrade`) and creates a read and an admin key
(`ftmatrix keys create`). Then for each scenario (bench/scenarios.py) it starts the service
(one worker) as the scenario needs it, captures the exact response of each request, starts
`bench/raw_app.py` under the same uvicorn with those responses, and drives both in turn with
wrk on 127.0.0.1 (warm-up, then the measured run; service first, raw second, per request;
again, up to --retries times, when other processes took the CPU meanwhile). It prints a
Markdown report and writes it to --output. Exit 0 whether or not the targets are met; 1 when
something could not run (no wrk, no PostgreSQL, a server that does not start, a response that
is not what the benchmark expects); 2 on bad arguments; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make `bench` and `service` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios as sc
from bench.databases import (
    DATABASES,
    PostgresServer,
    database_choices,
    sqlite_url,
    throwaway_postgres,
)
from bench.harness import (
    BIN,
    BUSY_SHARE,
    REPO,
    BenchError,
    Server,
    code_version,
    contention,
    contention_lines,
    cpu_sample,
    free_port,
    load_average,
    log,
    machine_lines,
    request,
    run_cli,
    running,
    scan_service_log,
    tail,
    wait_ready,
)
from bench.report import DATABASE_TITLES, Row, render
from bench.scenarios import Captured, Endpoint, Scenario, capture
from bench.writers import Writers, WriteWindow
from bench.wrk import WrkResult, fmt_errors, fmt_ms, fmt_rps, lua_script, run_wrk


@dataclass
class Context:
    """One database's run: the options, the database and its keys, where files go."""

    args: argparse.Namespace
    wrk: str
    database: str
    env: dict[str, str]
    work: Path
    read_key: str = ""
    admin_key: str = ""
    postgres: PostgresServer | None = None
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """A scenario's requests as captured from the service, and what its writers write."""

    endpoints: list[Endpoint]
    captured: dict[Endpoint, Captured]
    cells: list[tuple[str, str]] = field(default_factory=list)


# --- servers and captures ----------------------------------------------------------------


def service_command(
    scenario: Scenario, ctx: Context, port: int
) -> tuple[list[str], dict[str, str]]:
    """How the scenario's service is started, and its environment."""
    host = ["--host", "127.0.0.1", "--port", str(port)]
    env = dict(ctx.env)
    if scenario.server == sc.NO_FAST_PATH:
        env["FTM_FAST_PATH"] = "false"
    elif scenario.server == sc.READ_KEY:
        env["FTM_REQUIRE_READ_KEY"] = "true"
    return [str(BIN / "ftmatrix"), "serve", *host], env


def expect_status(endpoint: Endpoint, got: Captured) -> None:
    if got.status != endpoint.expected_status:
        raise BenchError(
            f"{endpoint.name} answered {got.status}, not {endpoint.expected_status}: "
            f"{got.body[:500]!r}"
        )


def plan_scenario(scenario: Scenario, ctx: Context, port: int) -> Plan:
    """Build the scenario's requests from what the service answers, and capture each one."""
    if scenario.name == "at":
        status, headers, _ = request(port, "GET", "/v1/matrix")
        newest = int({k.lower(): v for k, v in headers}.get("x-revision", "0"))
        if status != 200 or newest < 2:
            raise BenchError(f"GET /v1/matrix: status {status}, revision {newest}; need >= 2")
        endpoints = sc.time_travel(newest - 1)  # a past revision: never the fast path's
    elif scenario.name == "miss":
        endpoints = sc.misses()
    elif scenario.name == "auth":
        status, _, _ = request(port, "GET", "/v1/matrix")
        if status != 401:
            raise BenchError(f"FTM_REQUIRE_READ_KEY=true, no key: GET /v1/matrix answered {status}")
        endpoints = sc.authenticated(ctx.database, ctx.read_key)
    elif scenario.name == "writes":
        endpoints = sc.reads_during_writes()
    else:
        endpoints = sc.cached(ctx.database)
    captured = {endpoint: capture(port, endpoint) for endpoint in endpoints}
    for endpoint in endpoints:
        expect_status(endpoint, captured[endpoint])
    if scenario.name in ("cached", "auth"):
        first = endpoints[0]
        etag = captured[first].header("etag")
        if not etag:
            raise BenchError(f"{first.name} answered no ETag")
        again = sc.revalidation(first, etag)
        captured[again] = capture(port, again)
        expect_status(again, captured[again])
        endpoints.append(again)
    cells: list[tuple[str, str]] = []
    if scenario.name == "writes":
        matrix = json.loads(captured[endpoints[0]].body)
        pairs = itertools.product(
            [s["id"] for s in matrix["scenarios"]], [t["id"] for t in matrix["techniques"]]
        )
        cells = list(itertools.islice(pairs, ctx.args.writers))
        if len(cells) < ctx.args.writers:
            raise BenchError(f"the matrix has {len(cells)} cells, fewer than the writers")
    return Plan(endpoints, captured, cells)


def write_raw_responses(plan: Plan, path: Path) -> None:
    prepared = [
        {
            "method": endpoint.method,
            "target": endpoint.target,
            "if_none_match": endpoint.if_none_match,
            "status": plan.captured[endpoint].status,
            "headers": [list(h) for h in plan.captured[endpoint].headers],
            "body_b64": base64.b64encode(plan.captured[endpoint].body).decode("ascii"),
        }
        for endpoint in plan.endpoints
    ]
    path.write_text(json.dumps(prepared, indent=1), encoding="utf-8")


# --- measuring ---------------------------------------------------------------------------


def server_pids(ctx: Context, servers: Sequence[Server]) -> tuple[list[int], list[int]]:
    """Our servers' pids, and PostgreSQL's postmaster (whose backends work for the service)."""
    pg = ctx.postgres.pid() if ctx.postgres is not None else None
    return [s.process.pid for s in servers], [pg] if pg is not None else []


def measure_one(
    ctx: Context,
    endpoint: Endpoint,
    script: Path,
    server: Server,
    servers: Sequence[Server],
    writers: Writers | None = None,
) -> tuple[WrkResult, WriteWindow | None]:
    """Warm up then measure one server, noting the CPU that other processes used and what the
    writers (if any, already writing) did during the measured run."""
    args = ctx.args
    url = f"http://127.0.0.1:{server.port}{endpoint.target}"
    if args.warmup:
        run_wrk(ctx.wrk, url, script, args.warmup, args.connections, args.threads)
    live, trees = server_pids(ctx, servers)
    before = cpu_sample(live, trees)
    writes_before = writers.counts() if writers is not None else None
    result = run_wrk(ctx.wrk, url, script, args.duration, args.connections, args.threads)
    window = None
    if writers is not None and writes_before is not None:
        window = writers.window(writes_before, writers.counts())
    result.others_share = contention(before, cpu_sample(live, trees))[1]
    for other in servers:
        if other.process.poll() is not None:
            raise BenchError(
                f"the {other.name} exited with {other.process.returncode} during the run; "
                f"its log ends with:\n{tail(other.stderr_path)}"
            )
    log(
        f"  {server.name:7} {fmt_rps(result.rps)} req/s, p50 {fmt_ms(result.p50_ms)}, "
        f"p99 {fmt_ms(result.p99_ms)}, unexpected {fmt_errors(result)}, "
        f"other processes {result.others_share:.0%} CPU"
    )
    if window is not None:
        log(
            f"  writers {window.rate:,.1f} writes/s ({window.accepted} accepted, "
            f"{window.conflicts} 412s retried, {window.errors} errors)"
        )
    return result, window


def measure_row(
    ctx: Context,
    scenario: Scenario,
    plan: Plan,
    endpoint: Endpoint,
    script: Path,
    servers: Sequence[Server],
) -> Row:
    """Service then raw app; again (up to --retries times) if other processes took CPU."""
    best: Row | None = None
    for attempt in range(ctx.args.retries + 1):
        if attempt:
            log(f"  other processes used the CPU; measuring again ({attempt}/{ctx.args.retries})")
        service, raw = servers
        if scenario.name == "writes":
            etag = plan.captured[endpoint].header("etag") or "*"
            with Writers(service.port, ctx.admin_key, plan.cells, etag) as writers:
                service_result, window = measure_one(
                    ctx, endpoint, script, service, servers, writers
                )
        else:
            service_result, window = measure_one(ctx, endpoint, script, service, servers)
        raw_result, _ = measure_one(ctx, endpoint, script, raw, servers)
        row = Row(ctx.database, scenario, endpoint, service_result, raw_result, window)
        if best is None or row.others_share < best.others_share:
            best = row
        if best.others_share < BUSY_SHARE:
            break
    assert best is not None
    return best


def run_scenario(scenario: Scenario, ctx: Context) -> list[Row]:
    """Start the scenario's service and a raw app with its answers; measure every request."""
    work = ctx.work / scenario.name
    work.mkdir()
    port, raw_port = free_port(), free_port()
    command, env = service_command(scenario, ctx, port)
    rows = []
    log(f"== {DATABASE_TITLES[ctx.database]}: {scenario.title}")
    with running("service", command, env, work, port, work) as service:
        wait_ready(service, "/readyz")
        plan = plan_scenario(scenario, ctx, port)
        responses = work / "responses.json"
        write_raw_responses(plan, responses)
        scripts = {}
        for index, endpoint in enumerate(plan.endpoints):
            expected = plan.captured[endpoint]
            length = len(expected.body) if endpoint.fixed_length else None
            script = lua_script(
                endpoint.method, endpoint.body, endpoint.headers, expected.status, length
            )
            scripts[endpoint] = work / f"request{index}.lua"
            scripts[endpoint].write_text(script, encoding="utf-8")

        raw_env = {**ctx.env, "FTM_BENCH_RESPONSES": str(responses)}
        raw_cmd = [str(BIN / "uvicorn"), "bench.raw_app:app", "--host", "127.0.0.1"]
        raw_cmd += ["--port", str(raw_port), "--no-access-log", "--log-level", "warning"]
        with running("raw app", raw_cmd, raw_env, REPO, raw_port, work) as raw:
            wait_ready(raw, plan.endpoints[0].target)
            for endpoint in plan.endpoints:
                if capture(raw_port, endpoint).comparable() != plan.captured[endpoint].comparable():
                    raise BenchError(f"the raw app does not answer {endpoint.name} identically")
            for index, endpoint in enumerate(plan.endpoints, 1):
                log(f"[{index}/{len(plan.endpoints)}] {endpoint.name}")
                row = measure_row(ctx, scenario, plan, endpoint, scripts[endpoint], (service, raw))
                rows.append(row)
    ctx.logs += [f"{DATABASE_TITLES[ctx.database]}, {scenario.title}:", ""]
    ctx.logs += [*scan_service_log(work / "service.stderr.log"), ""]
    shutil.rmtree(work, ignore_errors=True)  # the service's log: hundreds of MB per scenario
    return rows


@contextmanager
def fresh_database(database: str, work: Path) -> Iterator[tuple[str, PostgresServer | None]]:
    """An empty database's URL (and its PostgreSQL server), gone after the block."""
    if database == "sqlite":
        yield sqlite_url(work / "db.sqlite"), None
        return
    with throwaway_postgres() as server:
        yield server.create_database("ftmatrix_bench"), server


def run_database(
    database: str, args: argparse.Namespace, wrk: str, tmp: Path, notes: list[str]
) -> tuple[list[Row], list[str], float]:
    """Every selected scenario on one database: rows, service logs, PostgreSQL's CPU seconds."""
    work = tmp / database
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTM_")}
    with fresh_database(database, work) as (url, postgres):
        ctx = Context(args, wrk, database, {**env, "FTM_DATABASE_URL": url}, work)
        ctx.postgres = postgres
        if postgres is not None:
            notes.append(f"- PostgreSQL: {postgres.version()}, throwaway, fsync=off")
        log(f"migrating a fresh {DATABASE_TITLES[database]} database")
        run_cli(["db", "upgrade"], ctx.env, work)  # in work: away from any .env in the repository
        ctx.read_key = run_cli(["keys", "create", "--name", "bench-reader", "--scope", "read"],
                               ctx.env, work)  # fmt: skip
        ctx.admin_key = run_cli(["keys", "create", "--name", "bench-writer", "--scope", "admin"],
                                ctx.env, work)  # fmt: skip
        rows = [row for name in args.scenario_list for row in run_scenario(sc.SCENARIOS[name], ctx)]
        pg_cpu = postgres.cpu_seconds() if postgres is not None else 0.0
    return rows, ctx.logs, pg_cpu


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database",
        default="both",
        choices=[*DATABASES, "both"],
        help="the database(s) to run on (default: %(default)s)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(sc.SCENARIOS),
        help="comma-separated, of " + ", ".join(sc.SCENARIOS) + " (default: all)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds, 0: none")
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="measure a request again when other processes took over "
        f"{BUSY_SHARE * 100:.0f}%% of the CPU meanwhile (the least disturbed attempt is kept)",
    )
    parser.add_argument(
        "--writers", type=int, default=sc.WRITERS, help="writers in the `writes` scenario"
    )
    parser.add_argument("--output", default="bench/results/latest.md")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.threads < 1 or args.warmup < 0 or args.retries < 0:
        parser.error("--duration and --threads must be >= 1, --warmup and --retries >= 0")
    if args.connections < args.threads:
        parser.error("--connections must be >= --threads")
    if args.writers < 1:
        parser.error("--writers must be >= 1")
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.scenario_list if s not in sc.SCENARIOS]
    if unknown or not args.scenario_list:
        parser.error(f"--scenarios: choose among {', '.join(sc.SCENARIOS)}, not {unknown or '-'}")
    args.database_list = database_choices(args.database)
    return args


def invocation() -> str:
    python = sys.executable
    cwd = os.getcwd()
    if python.startswith(cwd + os.sep):
        python = os.path.relpath(python, cwd)
    return shlex.join([python, *sys.argv])


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        log("bench: wrk is not installed (Debian: apt-get install -y wrk)")
        return 1
    for tool in ("ftmatrix", "uvicorn"):
        if not (BIN / tool).exists():
            log(f"bench: {BIN / tool} is missing; run this with the project's venv python")
            return 1
    signal.signal(signal.SIGTERM, _interrupted)
    command = invocation()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    code = code_version()
    load_before = load_average()
    cpu_before = cpu_sample()
    tmp = Path(tempfile.mkdtemp(prefix="ftm-bench-"))
    rows: list[Row] = []
    logs: list[str] = []
    notes: list[str] = []
    pg_cpu = 0.0
    try:
        for database in args.database_list:
            got, got_logs, got_cpu = run_database(database, args, wrk, tmp, notes)
            rows += got
            logs += got_logs
            pg_cpu += got_cpu
    except BenchError as exc:
        log(f"bench: {exc}")
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    contention_text = contention_lines(cpu_before, cpu_sample(), also_ours=pg_cpu)
    machine = machine_lines(wrk, code, load_before, load_average()) + notes
    report = render(rows, args, machine, command, when, logs, contention_text)
    sys.stdout.write(report)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")
    log(f"bench: wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
