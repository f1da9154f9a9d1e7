"""wrk, driven from Python: the Lua script of one request, a run, and what its output says.

Every run counts the responses that are not what the benchmark expects (another status, or
another body length where the length is fixed), so a fast wrong answer never passes for a fast
right one; socket errors are read from wrk's own summary.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BenchError

LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
WRK_GRACE_S = 60  # beyond its duration, before a hung wrk is given up on


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


def lua_string(data: bytes) -> str:
    """A Lua string literal of `data`, byte for byte."""
    out = []
    for byte in data:
        if 32 <= byte < 127 and byte not in (ord('"'), ord("\\")):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


_COUNTING = """local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
  first_unexpected = ""
end

function response(status, headers, body)
  if status ~= expected_status or (expected_length >= 0 and #body ~= expected_length) then
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
"""


def lua_script(
    method: str,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    expected_status: int,
    expected_length: int | None,
) -> str:
    """A wrk script sending one request and counting answers with another status or, unless
    `expected_length` is None (a body that changes under writes), another body length."""
    lines = ["-- written by bench/run.py", f"wrk.method = {lua_string(method.encode())}"]
    if body:
        lines.append(f"wrk.body = {lua_string(body)}")
    for name, value in headers:
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    lines += [
        f"local expected_status = {expected_status}",
        f"local expected_length = {-1 if expected_length is None else expected_length}",
        _COUNTING,
    ]
    return "\n".join(lines)


def parse_latency(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * LATENCY_UNITS_MS[match.group(2)] if match else None


def parse_wrk(text: str) -> WrkResult:
    """Requests/s, p50, p99, socket errors and the script's own counts, from wrk's output."""
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
    """One wrk run (`--latency`, the script's request); BenchError when wrk fails."""
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += ["-s", str(script), url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + WRK_GRACE_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(
            f"wrk did not finish in {duration + WRK_GRACE_S} s: {shlex.join(command)}"
        ) from exc
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise BenchError(
            f"wrk failed ({done.returncode}): {shlex.join(command)}\n{done.stdout}{done.stderr}"
        )
    return parse_wrk(done.stdout + done.stderr)


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
