"""Start-up and per-file speed of `ftmatrix check --offline` against yamllint on the same files.

Run from the repository root, with yamllint installed in the same environment
(`.venv/bin/pip install yamllint`):

    .venv/bin/python bench/cli_speed.py [--runs 21] [--warmup 3] [--corpus ../shared/corpus]
                                        [--output bench/results/cli_speed.md]

Two cases, each timed the way hyperfine times a command (warm-up runs first, then repeated
runs, the median kept), with both tools run alternately on the very same files so that any
drift of the machine hits both alike:

1. one config: an Axolotl config of the corpus whose `deepspeed:` reference ftmatrix follows
   (run with `--root` at the Axolotl source root, as the tool would run);
2. 100 configs in one invocation: the first 100 training YAML configs of MANIFEST.json
   (valid ones, in manifest order), read in place.

Targets: ftmatrix's median wall time at most 1.5x yamllint's, in both cases. The CPU time of
each run (user + system, from the kernel's accounting of the child) is shown too: it is less
disturbed than wall time when other work shares the machine. `python -c pass` is timed as the
floor every Python command pays. Prints a Markdown report (and writes it to --output). Exit 0
whether or not the targets are met; 1 when something could not run (yamllint missing, no
corpus, ftmatrix failing on a file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    BIN,
    BUSY_SHARE,
    REPO,
    CpuSample,
    code_version,
    contention,
    cpu_model,
    cpu_sample,
    load_average,
    version_of,
)

TARGET = 1.5
ONE_CONFIG = "axolotl/examples/alst/llama3-8b-deepspeed-alst.yaml"
MANY = 100
DEFAULT_CORPUS = REPO / ".." / "shared" / "corpus"


class BenchError(Exception):
    """Something the benchmark needs is missing or broken; the message says what."""


@dataclass(frozen=True, slots=True)
class Timing:
    """The runs of one command: wall and CPU seconds of each measured run."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def spread(self) -> str:
        """The interquartile range of wall times, in ms."""
        q1, _, q3 = statistics.quantiles(self.wall, n=4)
        return f"{q1 * 1000:.0f}-{q3 * 1000:.0f}"


@dataclass(frozen=True, slots=True)
class Case:
    """One comparison: the files, and the two command lines that read them."""

    name: str
    files: tuple[Path, ...]
    ftmatrix: tuple[str, ...]
    yamllint: tuple[str, ...]


# As an installed package runs: pip byte-compiles what it installs, so bytecode is used (and
# written on the first run here); PYTHONDONTWRITEBYTECODE in a developer's shell would
# otherwise make every run compile the modules that changed since the last commit.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(command: Sequence[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and the exit status of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=CHILD_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(commands: Sequence[Sequence[str]], runs: int, warmup: int, cwd: Path) -> list[Timing]:
    """Warm up, then run the commands in turn `runs` times (A B A B ...)."""
    for _ in range(warmup):
        for command in commands:
            run_once(command, cwd)
    walls: list[list[float]] = [[] for _ in commands]
    cpus: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            wall, cpu, _ = run_once(command, cwd)
            walls[index].append(wall)
            cpus[index].append(cpu)
    return [Timing(tuple(w), tuple(c)) for w, c in zip(walls, cpus, strict=True)]


def training_yaml(corpus: Path) -> list[Path]:
    """Valid training YAML configs of the corpus, in manifest order."""
    manifest = json.loads((corpus / "MANIFEST.json").read_text(encoding="utf-8"))
    return [
        corpus / entry["file"]
        for entry in manifest
        if entry["file"].endswith((".yml", ".yaml"))
        and entry.get("training", True)
        and entry.get("valid", True)
        and entry["format"] in ("axolotl", "llamafactory")
    ]


def cases(corpus: Path) -> list[Case]:
    ftmatrix = str(BIN / "ftmatrix")
    yamllint = shutil.which("yamllint", path=str(BIN)) or shutil.which("yamllint")
    if yamllint is None:
        raise BenchError("yamllint is not installed: .venv/bin/pip install yamllint")
    configs = training_yaml(corpus)
    if len(configs) < MANY:
        raise BenchError(f"the corpus has {len(configs)} training YAML configs, not {MANY}")
    one = corpus / ONE_CONFIG
    many = tuple(configs[:MANY])
    # `-d default`: yamllint's own defaults, whatever .yamllint file lies around.
    lint = (yamllint, "-d", "default")
    check = (ftmatrix, "check", "--offline", "--format", "text")
    return [
        Case(
            "one config",
            (one,),
            (*check, "--root", str(corpus / "axolotl"), str(one)),
            (*lint, str(one)),
        ),
        Case(
            f"{MANY} configs, one invocation",
            many,
            (*check, "--root", str(corpus), *map(str, many)),
            (*lint, *map(str, many)),
        ),
    ]


def verify(case: Case, cwd: Path) -> None:
    """ftmatrix must check every file (exit 0 or 1): a run that fails measures nothing."""
    done = subprocess.run(
        list(case.ftmatrix), cwd=cwd, env=CHILD_ENV, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise BenchError(f"{case.name}: ftmatrix exited {done.returncode}:\n{done.stderr}")


def report(rows: list[tuple[Case, Timing, Timing]], floor: Timing, header: list[str]) -> list[str]:
    lines = [
        "| case | ftmatrix median ms (IQR) | yamllint median ms (IQR) | wall ratio | target |"
        " met | CPU ms ftmatrix / yamllint | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, ours, theirs in rows:
        ratio = ours.wall_median / theirs.wall_median
        cpu_ratio = ours.cpu_median / theirs.cpu_median if theirs.cpu_median else float("nan")
        lines.append(
            f"| {case.name} | {ours.wall_median * 1000:.0f} ({ours.spread()}) "
            f"| {theirs.wall_median * 1000:.0f} ({theirs.spread()}) | {ratio:.2f}x "
            f"| <= {TARGET}x | {'yes' if ratio <= TARGET else '**no**'} "
            f"| {ours.cpu_median * 1000:.0f} / {theirs.cpu_median * 1000:.0f} "
            f"| {cpu_ratio:.2f}x |"
        )
    lines += [
        "",
        f"`python -c pass` (the interpreter alone): median {floor.wall_median * 1000:.0f} ms "
        f"wall, {floor.cpu_median * 1000:.0f} ms CPU.",
        "",
        *header,
    ]
    return lines


def _contention(started: CpuSample) -> str:
    other, share = contention(started, cpu_sample())
    if share != share:  # NaN: /proc/stat could not be read
        return "- CPU used by other processes: unknown"
    verdict = "an idle machine" if share < BUSY_SHARE else "**a shared machine: rerun when idle**"
    return (
        f"- CPU used by other processes during the run: {other:.1f} s"
        f" ({share:.0%} of the machine's CPU time): {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="measured runs per command")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs first")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--output", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    corpus = args.corpus.resolve()
    try:
        if not (corpus / "MANIFEST.json").is_file():
            raise BenchError(f"no corpus at {corpus}")
        todo = cases(corpus)
        for case in todo:
            verify(case, REPO)
    except BenchError as exc:
        print(f"cli_speed: {exc}", file=sys.stderr)
        return 1
    code, load_before, started = code_version(), load_average(), cpu_sample()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    floor = measure([(sys.executable, "-c", "pass")], args.runs, args.warmup, REPO)[0]
    rows = []
    for case in todo:
        print(f"cli_speed: {case.name} ({len(case.files)} files) ...", file=sys.stderr)
        ours, theirs = measure([case.ftmatrix, case.yamllint], args.runs, args.warmup, REPO)
        rows.append((case, ours, theirs))
    header = [
        f"- {when}; {args.runs} measured runs per command after {args.warmup} warm-up runs,"
        " the two tools alternating",
        f"- CPUs: {len(os.sched_getaffinity(0))}; CPU: {cpu_model()}",
        f"- Python {platform.python_version()}; yamllint {version_of('yamllint')};"
        f" PyYAML {version_of('PyYAML')}",
        f"- code: {code}",
        f"- load average (1/5/15 min) before: {load_before}; after: {load_average()}",
        _contention(started),
    ]
    text = "\n".join(report(rows, floor, header)) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
