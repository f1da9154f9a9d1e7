"""What every benchmark here shares: starting and stopping servers, readiness, the CLI, the
machine's facts (CPU, load, versions, the code's commit), and other processes' CPU share.

`bench/run.py` (throughput against a raw ASGI app) and `bench/scale.py` (the catalog at a
million cells) are built on it.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # the service drains in-flight requests for up to 30 s on SIGTERM
REQUEST_TIMEOUT_S = 10.0
MIGRATE_TIMEOUT_S = 120.0
LOG_SCAN_LIMIT_BYTES = 4 * 1024 * 1024 * 1024


class BenchError(Exception):
    """Something the benchmark needs could not be done: the run is invalid."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    files: list[IO[bytes]]


@contextmanager
def running(
    name: str, command: Sequence[str], env: dict[str, str], cwd: Path, port: int, logs: Path
) -> Iterator[Server]:
    """Start a server process (stdout and stderr to files in `logs`); SIGTERM it on exit."""
    stdout_path, stderr_path = logs / f"{name}.stdout.log", logs / f"{name}.stderr.log"
    files: list[IO[bytes]] = [stdout_path.open("wb"), stderr_path.open("wb")]
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=files[0],
            stderr=files[1],
            start_new_session=True,  # a ^C reaches us only; we stop the servers ourselves
        )
    except OSError as exc:
        for handle in files:
            handle.close()
        raise BenchError(f"cannot start the {name}: {exc}") from exc
    server = Server(name, process, port, stderr_path, files)
    try:
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log(f"{server.name} did not stop in {STOP_TIMEOUT_S:.0f} s after SIGTERM; killing it")
            process.kill()
            process.wait(timeout=10)
    for handle in server.files:
        handle.close()


def request(
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request(method, target, body=body or None, headers=dict(headers))
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def wait_ready(server: Server, target: str) -> None:
    """Poll `GET target` until it answers 200, for at most START_TIMEOUT_S."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"the {server.name} exited with {server.process.returncode} before it was "
                f"ready; its log ends with:\n{tail(server.stderr_path)}"
            )
        try:
            status, _, _ = request(server.port, "GET", target)
            if status == 200:
                return
            last = f"status {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(
        f"the {server.name} was not ready in {START_TIMEOUT_S:.0f} s (GET {target}: {last}); "
        f"its log ends with:\n{tail(server.stderr_path)}"
    )


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run `ftmatrix <args>`; its standard output, or BenchError when it fails."""
    try:
        done = subprocess.run(
            [str(BIN / "ftmatrix"), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"ftmatrix {' '.join(args)} could not run: {exc}") from exc
    if done.returncode != 0:
        raise BenchError(f"ftmatrix {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def run_text(command: Sequence[str], cwd: Path = REPO, succeeded: bool = False) -> str:
    """What a command printed (stdout, else stderr: `wrk -v` prints there), "" when it cannot
    run; with `succeeded`, also "" when it exits non-zero."""
    try:
        done = subprocess.run(
            list(command), cwd=cwd, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if succeeded and done.returncode != 0:
        return ""
    return (done.stdout or done.stderr).strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"


def code_version() -> str:
    """The commit checked out, and whether tracked files differ from it (read-only git)."""
    commit = run_text(["git", "rev-parse", "--short", "HEAD"], succeeded=True)
    # No optional locks, so that a concurrent git command is never disturbed.
    git_env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            env=git_env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        status = ""
    dirty = " with uncommitted changes" if status.strip() else ""
    return f"commit {commit or 'unknown'}{dirty}"


def machine_lines(wrk: str, code: str, load_before: str, load_after: str) -> list[str]:
    wrk_version = run_text([wrk, "-v"]).splitlines()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    loop = "uvloop" if version_of("uvloop") != "not installed" else "asyncio"
    http_impl = "httptools" if version_of("httptools") != "not installed" else "h11"
    return [
        f"- CPUs (nproc): {cpus}; CPU: {cpu_model()}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- uvicorn {version_of('uvicorn')} (loop: {loop}, http: {http_impl}); "
        f"fastapi {version_of('fastapi')}, starlette {version_of('starlette')}",
        f"- wrk: {wrk_version[0] if wrk_version else 'unknown'}",
        f"- code: {code} (at the start of the run)",
        f"- load average (1/5/15 min) before the run: {load_before}; after: {load_after}",
    ]


BUSY_SHARE = 0.05


@dataclass(frozen=True)
class CpuSample:
    """Machine-wide busy CPU seconds (steal included) and this process tree's CPU seconds."""

    wall: float
    machine_busy: float
    ours: float


def _stat_fields(pid: int) -> list[str]:
    """Fields 3.. of /proc/<pid>/stat (proc(5)), or none when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return []
    return text.rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User plus system CPU seconds of a live process (0 if it is gone); with `reaped`, also
    those of its children that it has waited for (cutime, cstime)."""
    fields = _stat_fields(pid)
    try:
        # utime, stime, cutime, cstime: fields 14-17, here from index 11
        ticks = sum(int(v) for v in fields[11 : 15 if reaped else 13])
    except ValueError:
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a server that forks workers (PostgreSQL's postmaster and its backends):
    the process, its reaped children, and its live children with theirs."""
    total = process_cpu_seconds(pid, reaped=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if len(fields) > 1 and fields[1] == str(pid):  # field 4: the parent's pid
                total += process_cpu_seconds(int(entry.name), reaped=True)
    return total


def cpu_sample(live: Sequence[int] = (), trees: Sequence[int] = ()) -> CpuSample:
    """Sample now; `live` are our children still running (not yet in RUSAGE_CHILDREN), `trees`
    servers not our children whose whole process tree counts as ours (tree_cpu_seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    busy = 0.0
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
        # cpu user nice system idle iowait irq softirq steal [guest guest_nice]
        values = [int(v) for v in fields[1:9]]
        busy = (sum(values) - values[3] - values[4]) / tick
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    ours = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),  # wrk, servers: all waited for
        )
    )
    ours += sum(process_cpu_seconds(pid) for pid in live)
    ours += sum(tree_cpu_seconds(pid) for pid in trees)
    return CpuSample(time.monotonic(), busy, ours)


def contention(before: CpuSample, after: CpuSample) -> tuple[float, float]:
    """CPU seconds used by other processes during the run, and their share of the machine."""
    cpus = os.cpu_count() or 1
    other = max(0.0, (after.machine_busy - before.machine_busy) - (after.ours - before.ours))
    available = max(1e-9, (after.wall - before.wall) * cpus)
    return other, other / available


def contention_lines(before: CpuSample, after: CpuSample, also_ours: float = 0.0) -> list[str]:
    """The report's line on other processes' CPU over a run; `also_ours` is CPU time of ours
    that the samples do not see (a server stopped meanwhile that was not our child)."""
    after = CpuSample(after.wall, after.machine_busy, after.ours + also_ours)
    other, share = contention(before, after)
    if share != share:  # NaN: /proc/stat could not be read
        return []
    line = (
        f"- CPU used by other processes over the whole run: {other:.1f} s "
        f"({share:.1%} of the machine's CPU time)"
    )
    if share < BUSY_SHARE:
        return [line + "."]
    return [
        line + ". **The machine was shared with other work**: a row whose last column is in "
        f"bold was measured while other processes took over {BUSY_SHARE:.0%} of the CPU, and "
        "its numbers are likely skewed."
    ]


def scan_service_log(path: Path) -> list[str]:
    """Count the service's log lines above `info`, and lines that are not JSON."""
    counts: dict[str, int] = {}
    examples: list[str] = []
    lines = read = 0
    try:
        with path.open("rb") as handle:
            for raw in handle:
                read += len(raw)
                if read > LOG_SCAN_LIMIT_BYTES:
                    break
                lines += 1
                if b'"level": "info"' in raw or b'"level":"info"' in raw:
                    continue
                line = raw.decode("utf-8", "replace").strip()
                try:
                    level = str(json.loads(line).get("level", "?"))
                except (ValueError, AttributeError):
                    level = "not JSON"
                counts[level] = counts.get(level, 0) + 1
                if len(examples) < 5:
                    examples.append(line[:300])
    except OSError as exc:
        return [f"- could not read the service log: {exc}"]
    size = f"{lines:,} lines ({read / 1e6:,.0f} MB"
    size += (
        f", the first {LOG_SCAN_LIMIT_BYTES >> 30} GiB only)"
        if read > LOG_SCAN_LIMIT_BYTES
        else ")"
    )
    if not counts:
        return [f"- {size}, all JSON at level info (the access log, one line per request)."]
    summary = ", ".join(f"{level}: {n}" for level, n in sorted(counts.items()))
    return [
        f"- {size}; besides info: {summary}. First ones:",
        "",
        "```",
        *examples,
        "```",
    ]
