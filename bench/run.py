"""Throughput of the service's reads and checks against a raw ASGI app answering the same bytes.

Run from the repository root (wrk comes from Debian: `apt-get install -y wrk`):

    .venv/bin/python bench/run.py [--duration 10] [--connections 32] [--threads 1]
                                  [--warmup 2] [--retries 1] [--output bench/results/latest.md]

It migrates a fresh SQLite database in a temporary directory, starts `ftmatrix serve`
(one worker), captures the exact response of each benchmarked request, starts
`bench/raw_app.py` under the same uvicorn with those responses, then drives both in turn with
wrk on 127.0.0.1 (warm-up, then the measured run; service first, raw second, per endpoint;
again, up to --retries times, when other processes took the CPU meanwhile).
It prints a Markdown report and writes it to --output. Exit 0 whether or not the targets are
met; 1 when something could not run (no wrk, a server that does not start, a response that
is not what the benchmark expects); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make `bench` and `service` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

GET_TARGET = 0.7
POST_TARGET = 0.4
P99_TARGET_MS = 20.0
P99_TARGET_CONNECTIONS = 32

CHECK_BODY = {
    "techniques": ["qlora", "zero-3", "dora"],
    "libraries": {"peft": "0.13.2", "bitsandbytes": "0.44.1"},
}
# Headers that the server writes itself (the raw app gets them from uvicorn as the service does).
SERVER_HEADERS = frozenset({"date", "server"})
# Headers whose value legitimately differs from one response to the next.
VARYING_HEADERS = frozenset({"date", "x-request-id"})


@dataclass(frozen=True)
class Endpoint:
    """One benchmarked request and what it must answer."""

    method: str
    target: str
    ratio_target: float
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    expected_status: int = 200
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.method} {self.target}"


@dataclass(frozen=True)
class Captured:
    """A response as the service sent it, without the headers the server adds itself."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class WrkResult:
    """What one wrk run measured."""

    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int | None = None
    unexpected: int | None = None
    first_unexpected: str = ""
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    output: str = ""
    others_share: float = 0.0  # of the machine's CPU time, used by unrelated processes

    @property
    def errors(self) -> int:
        """Unexpected responses plus socket errors (an unparsed count counts as one)."""
        unexpected = 1 if self.unexpected is None else self.unexpected
        return unexpected + sum(self.socket_errors.values())


@dataclass(frozen=True)
class Row:
    endpoint: Endpoint
    service: WrkResult
    raw: WrkResult

    @property
    def others_share(self) -> float:
        return max(self.service.others_share, self.raw.others_share)


# --- servers -----------------------------------------------------------------------------


def capture(port: int, endpoint: Endpoint) -> Captured:
    status, headers, body = request(
        port, endpoint.method, endpoint.target, endpoint.body, endpoint.headers
    )
    kept = tuple((k.lower(), v) for k, v in headers if k.lower() not in SERVER_HEADERS)
    return Captured(status, kept, body)


def comparable(captured: Captured) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    headers = tuple((k, v) for k, v in captured.headers if k not in VARYING_HEADERS)
    return captured.status, headers, captured.body


# --- wrk ---------------------------------------------------------------------------------


def lua_string(data: bytes) -> str:
    """A Lua string literal of `data`, byte for byte."""
    out = []
    for byte in data:
        if 32 <= byte < 127 and byte not in (ord('"'), ord("\\")):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_script(endpoint: Endpoint, expected: Captured) -> str:
    """A wrk script sending `endpoint` and counting responses unlike `expected`."""
    lines = [
        "-- written by bench/run.py",
        f"wrk.method = {lua_string(endpoint.method.encode())}",
    ]
    if endpoint.body:
        lines.append(f"wrk.body = {lua_string(endpoint.body)}")
    for name, value in endpoint.headers:
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    lines += [
        f"local expected_status = {expected.status}",
        f"local expected_length = {len(expected.body)}",
        """local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
  first_unexpected = ""
end

function response(status, headers, body)
  if status ~= expected_status or #body ~= expected_length then
    unexpected = unexpected + 1
    if first_unexpected == "" then
      first_unexpected = status .. " with " .. #body .. " bytes"
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  local first = ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
    if first == "" then first = thread:get("first_unexpected") end
  end
  io.write(string.format("BENCH requests=%d unexpected=%d first=%s\\n",
    summary.requests, total, first))
end
""",
    ]
    return "\n".join(lines)


LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_latency(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * LATENCY_UNITS_MS[match.group(2)] if match else None


def parse_wrk(text: str) -> WrkResult:
    result = WrkResult(output=text)
    if match := re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE):
        result.rps = float(match.group(1))
    result.p50_ms = parse_latency(text, "50")
    result.p99_ms = parse_latency(text, "99")
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        result.non_2xx_3xx = int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        names = ("connect", "read", "write", "timeout")
        counts = (int(g) for g in match.groups())
        result.socket_errors = {k: n for k, n in zip(names, counts, strict=True) if n}
    if match := re.search(r"^BENCH requests=(\d+) unexpected=(\d+) first=(.*)$", text, re.M):
        result.requests = int(match.group(1))
        result.unexpected = int(match.group(2))
        result.first_unexpected = match.group(3).strip()
    return result


def run_wrk(
    wrk: str, url: str, script: Path, duration: int, connections: int, threads: int
) -> WrkResult:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish in {duration + 60} s: {shlex.join(command)}") from exc
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise BenchError(
            f"wrk failed ({done.returncode}): {shlex.join(command)}\n{done.stdout}{done.stderr}"
        )
    return parse_wrk(done.stdout + done.stderr)


# --- report ------------------------------------------------------------------------------


def fmt_rps(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "?"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def fmt_errors(result: WrkResult) -> str:
    if result.unexpected is None:
        return "not counted"
    parts = [str(result.unexpected)]
    if result.first_unexpected:
        parts.append(f"(first: {result.first_unexpected})")
    parts += [f"{kind} {count}" for kind, count in result.socket_errors.items()]
    return " ".join(parts)


def fmt_share(row: Row) -> str:
    text = f"{row.service.others_share:.0%} / {row.raw.others_share:.0%}"
    return f"**{text}**" if row.others_share >= BUSY_SHARE else text


def ratio_of(row: Row) -> float | None:
    if row.service.rps is None or not row.raw.rps:
        return None
    return row.service.rps / row.raw.rps


def render(
    rows: Sequence[Row],
    args: argparse.Namespace,
    machine: Sequence[str],
    command: str,
    when: str,
    service_log: Sequence[str],
    contention: Sequence[str],
) -> str:
    header = (
        "| endpoint | service req/s | raw req/s | ratio | target | met? "
        "| service p50 | service p99 | p99 < 20 ms? | raw p50 | raw p99 "
        "| unexpected (service / raw) | other CPU (service / raw) |"
    )
    table = [header, "|" + "---|" * 13]
    ratio_met = p99_met = 0
    for row in rows:
        ratio = ratio_of(row)
        met = ratio is not None and ratio >= row.endpoint.ratio_target and not row.service.errors
        ratio_met += met
        p99_ok = row.service.p99_ms is not None and row.service.p99_ms < P99_TARGET_MS
        p99_met += p99_ok
        cells = [
            f"`{row.endpoint.name}`",
            fmt_rps(row.service.rps),
            fmt_rps(row.raw.rps),
            f"{ratio:.2f}x" if ratio is not None else "?",
            f">= {row.endpoint.ratio_target:.1f}x",
            "yes" if met else "**no**",
            fmt_ms(row.service.p50_ms),
            fmt_ms(row.service.p99_ms),
            "yes" if p99_ok else "**no**",
            fmt_ms(row.raw.p50_ms),
            fmt_ms(row.raw.p99_ms),
            f"{fmt_errors(row.service)} / {fmt_errors(row.raw)}",
            fmt_share(row),
        ]
        table.append("| " + " | ".join(cells) + " |")
    errors = sum(row.service.errors + row.raw.errors for row in rows)
    p99_note = (
        ""
        if args.connections == P99_TARGET_CONNECTIONS
        else f" (the p99 target is stated at {P99_TARGET_CONNECTIONS} connections)"
    )
    out = [
        "# ftmatrix service vs a raw ASGI app",
        "",
        f"wrk `-t{args.threads} -c{args.connections} -d{args.duration}s --latency` on "
        f"127.0.0.1, after a {args.warmup} s warm-up per endpoint per server; service first, "
        "raw app second, endpoint by endpoint. Both run under the same uvicorn, one worker; "
        "the raw app answers the service's own captured bytes.",
        "",
        *table,
        "",
        f"- Throughput targets met: {ratio_met} of {len(rows)} "
        f"(cached GETs >= {GET_TARGET}x the raw app, `POST /v1/checks` >= {POST_TARGET}x).",
        f"- p99 under {P99_TARGET_MS:.0f} ms: {p99_met} of {len(rows)}{p99_note}.",
        "- Unexpected responses (wrong status or body length) and socket errors: "
        + (f"**{errors}**" if errors else "none")
        + ".",
        *contention,
        "",
        "## Machine",
        "",
        *machine,
        f"- date: {when}",
        f"- command: `{command}`",
        "",
        "## Service log during the run",
        "",
        *service_log,
        "",
        "<details><summary>wrk output</summary>",
        "",
    ]
    for row in rows:
        for name, result in (("service", row.service), ("raw", row.raw)):
            out += [f"{name}, `{row.endpoint.name}`:", "", "```", result.output.rstrip(), "```", ""]
    out.append("</details>")
    return "\n".join(out) + "\n"


# --- main --------------------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    json_body = json.dumps(CHECK_BODY).encode()
    return [
        Endpoint("GET", "/v1/matrix", GET_TARGET),
        Endpoint("GET", "/v1/matrix?format=markdown", GET_TARGET),
        Endpoint("GET", "/v1/matrix/reduce-memory/lora", GET_TARGET),
        Endpoint("GET", "/v1/techniques/qlora", GET_TARGET),
        Endpoint("GET", "/v1/recommendations?scenario=reduce-memory&scenario=qa-tasks", GET_TARGET),
        Endpoint(
            "POST",
            "/v1/checks",
            POST_TARGET,
            body=json_body,
            headers=(("Content-Type", "application/json"),),
        ),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds, 0: none")
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="measure an endpoint again when other processes took over "
        f"{BUSY_SHARE * 100:.0f}%% of the CPU meanwhile (the least disturbed attempt is kept)",
    )
    parser.add_argument("--output", default="bench/results/latest.md")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.threads < 1 or args.warmup < 0 or args.retries < 0:
        parser.error("--duration and --threads must be >= 1, --warmup and --retries >= 0")
    if args.connections < args.threads:
        parser.error("--connections must be >= --threads")
    return args


def invocation() -> str:
    python = sys.executable
    cwd = os.getcwd()
    if python.startswith(cwd + os.sep):
        python = os.path.relpath(python, cwd)
    return shlex.join([python, *sys.argv])


def benchmark(args: argparse.Namespace, wrk: str, tmp: Path) -> list[Row]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTM_")}
    service_env = {**env, "FTM_DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}"}
    log("migrating a fresh SQLite database")
    run_cli(["db", "upgrade"], service_env, tmp)  # in tmp: away from any .env in the repository

    plan = endpoints()
    service_port, raw_port = free_port(), free_port()
    service_cmd = [str(BIN / "ftmatrix"), "serve", "--host", "127.0.0.1"]
    service_cmd += ["--port", str(service_port)]
    with running("service", service_cmd, service_env, tmp, service_port, tmp) as service:
        wait_ready(service, "/readyz")
        log(f"service ready on 127.0.0.1:{service_port}; capturing responses")
        captured: dict[Endpoint, Captured] = {}
        for endpoint in plan:
            captured[endpoint] = capture(service_port, endpoint)
        etag = captured[plan[0]].header("etag")
        if not etag:
            raise BenchError("GET /v1/matrix answered no ETag")
        revalidate = Endpoint(
            "GET",
            "/v1/matrix",
            GET_TARGET,
            headers=(("If-None-Match", etag),),
            expected_status=304,
            label="GET /v1/matrix (If-None-Match: 304)",
        )
        plan.append(revalidate)
        captured[revalidate] = capture(service_port, revalidate)
        for endpoint in plan:
            got = captured[endpoint].status
            if got != endpoint.expected_status:
                raise BenchError(
                    f"{endpoint.name} answered {got}, not {endpoint.expected_status}: "
                    f"{captured[endpoint].body[:500]!r}"
                )

        responses = tmp / "responses.json"
        prepared = [
            {
                "method": endpoint.method,
                "target": endpoint.target,
                "if_none_match": dict(endpoint.headers).get("If-None-Match", ""),
                "status": captured[endpoint].status,
                "headers": [list(h) for h in captured[endpoint].headers],
                "body_b64": base64.b64encode(captured[endpoint].body).decode("ascii"),
            }
            for endpoint in plan
        ]
        responses.write_text(json.dumps(prepared, indent=1), encoding="utf-8")
        scripts = {}
        for index, endpoint in enumerate(plan):
            scripts[endpoint] = tmp / f"endpoint{index}.lua"
            scripts[endpoint].write_text(lua_script(endpoint, captured[endpoint]), "utf-8")

        raw_env = {**env, "FTM_BENCH_RESPONSES": str(responses)}
        raw_cmd = [str(BIN / "uvicorn"), "bench.raw_app:app", "--host", "127.0.0.1"]
        raw_cmd += ["--port", str(raw_port), "--no-access-log", "--log-level", "warning"]
        with running("raw app", raw_cmd, raw_env, REPO, raw_port, tmp) as raw:
            wait_ready(raw, plan[0].target)
            for endpoint in plan:
                if comparable(capture(raw_port, endpoint)) != comparable(captured[endpoint]):
                    raise BenchError(f"the raw app does not answer {endpoint.name} identically")
            log(f"raw app ready on 127.0.0.1:{raw_port}, answering the same bytes")

            rows = []
            for index, endpoint in enumerate(plan, 1):
                log(f"[{index}/{len(plan)}] {endpoint.name}")
                rows.append(measure_pair(args, wrk, endpoint, scripts[endpoint], service, raw))
    return rows


def measure(
    args: argparse.Namespace, wrk: str, endpoint: Endpoint, script: Path, servers: Sequence[Server]
) -> list[WrkResult]:
    """Warm up then measure each server in turn, noting the CPU that other processes used."""
    results = []
    pids = [server.process.pid for server in servers]
    for server in servers:
        url = f"http://127.0.0.1:{server.port}{endpoint.target}"
        if args.warmup:
            run_wrk(wrk, url, script, args.warmup, args.connections, args.threads)
        before = cpu_sample(pids)
        result = run_wrk(wrk, url, script, args.duration, args.connections, args.threads)
        result.others_share = contention(before, cpu_sample(pids))[1]
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
        results.append(result)
    return results


def measure_pair(
    args: argparse.Namespace,
    wrk: str,
    endpoint: Endpoint,
    script: Path,
    service: Server,
    raw: Server,
) -> Row:
    """Service then raw app; again (up to --retries times) if other processes took CPU."""
    best: Row | None = None
    for attempt in range(args.retries + 1):
        if attempt:
            log(f"  other processes used the CPU; measuring again ({attempt}/{args.retries})")
        service_result, raw_result = measure(args, wrk, endpoint, script, (service, raw))
        row = Row(endpoint, service_result, raw_result)
        if best is None or row.others_share < best.others_share:
            best = row
        if best.others_share < BUSY_SHARE:
            break
    assert best is not None
    return best


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
    try:
        rows = benchmark(args, wrk, tmp)
        service_log = scan_service_log(tmp / "service.stderr.log")
    except BenchError as exc:
        log(f"bench: {exc}")
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cpu_after = cpu_sample()
    machine = machine_lines(wrk, code, load_before, load_average())
    report = render(
        rows, args, machine, command, when, service_log, contention_lines(cpu_before, cpu_after)
    )
    sys.stdout.write(report)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")
    log(f"bench: wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
