"""Lighthouse scores of the human pages: accessibility (target 95) and performance (target 90).

Usage: `.venv/bin/python bench/lighthouse.py [--preset mobile|desktop] [--runs N]`

1. Migrates a fresh SQLite database in a temporary directory and starts `ftmatrix serve`.
2. Runs npm's `lighthouse` CLI (from $LIGHTHOUSE, else the npm prefix /tmp/pages-npm, where
   `npm install --prefix /tmp/pages-npm lighthouse` puts it) with Debian's chromium
   ($CHROME_PATH, else `chromium` on PATH), headless, once per page and run, categories
   accessibility and performance only. `mobile` is Lighthouse's default (a phone with
   simulated slow 4G and a 4x slower CPU); `desktop` is its desktop preset.
3. Prints a Markdown table of the median score per page (0-100), with the first-load weight
   Lighthouse measured, and writes every run's numbers to bench/results/lighthouse.json.

Exit status 1 when a median misses a target, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import REPO, BenchError, free_port, log, run_cli, running, wait_ready

PAGES = [
    "/",
    "/?cell=reduce-memory/lora",
    "/?at=1",
    "/diff?from=1&to=2",
    "/techniques/qlora",
    "/pairs",
    "/check",
    "/where?model=phi-3-mini-4k-instruct&technique=lora",
    "/estimate?model=phi-3-mini-4k-instruct&technique=qlora&gpus=1&micro_batch=1&seq_len=2048"
    "&gradient_checkpointing=true&hardware=t4-16gb&hardware=h100-80gb",
    "/models",
]
TARGETS = {"accessibility": 95, "performance": 90}
RESULTS = REPO / "bench" / "results" / "lighthouse.json"
LIGHTHOUSE_TIMEOUT_S = 240


def lighthouse_command() -> list[str]:
    """The command that runs the lighthouse CLI, or BenchError saying how to install it."""
    given = os.environ.get("LIGHTHOUSE")
    if given:
        return [given]
    script = Path("/tmp/pages-npm/node_modules/lighthouse/cli/index.js")  # noqa: S108
    node = shutil.which("node")
    if script.is_file() and node:
        return [node, str(script)]
    found = shutil.which("lighthouse")
    if found:
        return [found]
    raise BenchError("lighthouse not found: npm install --prefix /tmp/pages-npm lighthouse")


def chrome_path() -> str:
    path = os.environ.get("CHROME_PATH") or shutil.which("chromium")
    if not path:
        raise BenchError("chromium not found: apt-get install chromium (or set CHROME_PATH)")
    return path


def audit(url: str, preset: str, out: Path) -> dict[str, Any]:
    """One Lighthouse run of `url`: its category scores (0-100) and first-load bytes."""
    command = [
        *lighthouse_command(),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        "--only-categories=accessibility,performance",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    env = {**os.environ, "CHROME_PATH": chrome_path()}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=LIGHTHOUSE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"lighthouse {url} could not run: {exc}") from exc
    if done.returncode != 0 or not out.is_file():
        raise BenchError(f"lighthouse {url} failed:\n{done.stderr[-2000:]}")
    report = json.loads(out.read_text(encoding="utf-8"))
    scores = {
        name: round(100 * (category["score"] or 0))
        for name, category in report["categories"].items()
    }
    weight = report["audits"].get("total-byte-weight", {}).get("numericValue")
    failed = [
        audit_id
        for audit_id, result in report["audits"].items()
        if result.get("score") is not None
        and result["score"] < 1
        and result.get("scoreDisplayMode") == "binary"
        and audit_id in {ref["id"] for ref in report["categories"]["accessibility"]["auditRefs"]}
    ]
    return {
        **scores,
        "bytes": int(weight) if weight is not None else None,
        "failed_accessibility_audits": failed,
        "lighthouse": report.get("lighthouseVersion"),
        "chromium": report.get("environment", {}).get("hostUserAgent"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["mobile", "desktop"], default="mobile")
    parser.add_argument("--runs", type=int, default=1, help="runs per page; the median is kept")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="ftm-lighthouse-") as folder:
            tmp = Path(folder)
            env = {**os.environ, "FTM_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"}
            run_cli(["db", "upgrade"], env, tmp)
            port = free_port()
            command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
            with running("service", command, env, REPO, port, tmp) as server:
                wait_ready(server, "/readyz")
                runs: dict[str, list[dict[str, Any]]] = {}
                for page in PAGES:
                    for run in range(args.runs):
                        log(f"lighthouse {args.preset} {page} (run {run + 1})")
                        out = tmp / f"report-{len(runs)}-{run}.json"
                        result = audit(f"http://127.0.0.1:{port}{page}", args.preset, out)
                        runs.setdefault(page, []).append(result)
    except BenchError as exc:
        print(f"lighthouse bench: {exc}", file=sys.stderr)
        return 2
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"preset": args.preset, "runs": runs}, indent=2) + "\n")
    print(f"| page ({args.preset}) | accessibility | performance | first-load bytes |")
    print("|---|---|---|---|")
    missed = False
    for page, results in runs.items():
        medians = {k: statistics.median(r[k] for r in results) for k in TARGETS}
        weight = results[0]["bytes"]
        missed |= any(medians[k] < target for k, target in TARGETS.items())
        print(
            f"| `{page}` | {medians['accessibility']:.0f} | {medians['performance']:.0f} |"
            f" {weight if weight is not None else '?'} |"
        )
    first = next(iter(runs.values()))[0]
    print(f"\nLighthouse {first['lighthouse']}; {first['chromium']}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
