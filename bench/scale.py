"""How the service grows with the catalog: import, row and column reads, time travel, memory.

Run from the repository root, with the project installed in `.venv`:

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--revisions 50]
                                    [--reads 200] [--output bench/results/scale.md]

For each size (a number of cells: techniques x scenarios, one technique to four scenarios, so
1,000,000 cells are 500 techniques x 2,000 scenarios), in a fresh SQLite database in a temporary
directory:

1. `ftmatrix db upgrade` (the shipped data: 3 revisions, 54 cells), and a write key.
2. The synthetic techniques and scenarios are created in one revision, in-process, through the
   service's own write path (`Writer` with `service.admin.service.create_technique` /
   `create_scenario`, the code behind `POST /v1/techniques` and `POST /v1/scenarios`).
3. `ftmatrix serve` starts (one worker). The cells are imported over HTTP in `--revisions` bulk
   edits, `PATCH /v1/matrix` with a CSV body, each one revision holding an equal share of the
   scenario rows (every technique's cell in them). This is the timed bulk import.
4. Reads, each for a different, random id so that none is a cache hit: one scenario's row
   (`GET /v1/scenarios/{id}/techniques`), one technique's column
   (`GET /v1/techniques/{id}/scenarios`), one cell, and the same row and column read as of the
   revision halfway through the import (`?at=`). Every answer is checked against what the
   generator wrote (or, as of the halfway revision, had not written yet).
5. One cell written (`PUT`), then one technique created (`POST /v1/techniques`), each followed by
   the first read of a row at the new revision: the cost of a new revision to the next reader.
6. The full matrix as CSV and as JSON (`GET /v1/matrix`), and the whole snapshot document
   (`GET /v1/export`), once each, checked for their number of cells.
7. The server's peak memory (VmHWM, from /proc) after the import, after the reads and at the end,
   and its resident memory (VmRSS) at the end.

The data is synthetic (`bench-t0001`, `bench-s00001`, support levels cycled by a formula) and
stays in the temporary directory, which is removed at the end. Everything stays on 127.0.0.1.
Exit 0 whether or not the targets are met; 1 when something could not run or a read returned
wrong data; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make `bench` and `service` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    BIN,
    BenchError,
    code_version,
    free_port,
    load_average,
    log,
    machine_lines,
    run_cli,
    running,
    wait_ready,
)

SUPPORTS = ("yes", "partial", "no", "unknown")
READ_TARGET_MS = 20.0
IMPORT_TARGET_S = 60.0
MEMORY_TARGET_MB = 1024.0
REQUEST_TIMEOUT_S = 600.0
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def shape(cells: int) -> tuple[int, int]:
    """Techniques and scenarios for about `cells` cells, one technique to four scenarios."""
    techniques = max(1, round((cells / 4) ** 0.5))
    return techniques, max(1, round(cells / techniques))


def support_of(scenario: int, technique: int) -> str:
    return SUPPORTS[(scenario * 7 + technique * 3) % len(SUPPORTS)]


def note_of(scenario: int, technique: int) -> str:
    return f"synthetic note {scenario}/{technique}" if (scenario + technique) % 10 == 0 else ""


def technique_id(index: int) -> str:
    return f"bench-t{index:04d}"


def scenario_id(index: int) -> str:
    return f"bench-s{index:05d}"


@dataclass
class Timings:
    """Latencies in milliseconds of one kind of read."""

    values: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    cells: int
    techniques: int
    scenarios: int
    revisions: int
    entities_s: float = 0.0
    import_s: float = 0.0
    slowest_edit_s: float = 0.0
    db_mb: float = 0.0
    reads: dict[str, Timings] = field(default_factory=dict)
    matrix_s: float = 0.0
    matrix_mb: float = 0.0
    matrix_json_s: float = 0.0
    matrix_json_mb: float = 0.0
    export_s: float = 0.0
    export_mb: float = 0.0
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    import_hwm_mb: float = 0.0
    after_cell_write_ms: float = 0.0
    after_entity_write_ms: float = 0.0
    reads_hwm_mb: float = 0.0
    columns_ms: float = 0.0
    revert_cells: int = 0
    revert_s: float = 0.0


class Client:
    """One keep-alive HTTP connection to the service."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.key = key

    def call(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        started = time.perf_counter()
        self.conn.request(method, target, body=body or None, headers=all_headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data, elapsed

    def close(self) -> None:
        self.conn.close()


def create_entities(database_url: str, techniques: int, scenarios: int) -> int:
    """Create the synthetic techniques and scenarios as one revision; returns its number."""
    from service.admin import schemas as s
    from service.admin import service as admin
    from service.admin.writer import WriteContext, Writer
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.snapshot import SnapshotStore
    from service.vocabulary import Category, ScenarioKind

    engine = create_db_engine(Settings(database_url=database_url))
    try:
        snap = SnapshotStore(engine).current()
        ctx = WriteContext("bench/scale.py", "synthetic catalog for the benchmark", snap.revision)
        with session_scope(engine, write=True) as session:
            writer = Writer(session, snap, ctx)
            writer.open()
            for i in range(1, techniques + 1):
                body = s.TechniqueCreate(
                    id=technique_id(i), name=f"Bench technique {i}", category=Category.other
                )
                admin.create_technique(writer, body)
            for i in range(1, scenarios + 1):
                body_s = s.ScenarioCreate(
                    id=scenario_id(i), title=f"Bench scenario {i}", kind=ScenarioKind.task
                )
                admin.create_scenario(writer, body_s)
            created = writer.finish()
        if created is None:
            raise BenchError("creating the synthetic catalog changed nothing")
        return created
    finally:
        engine.dispose()


def batch_csv(scenarios: range, techniques: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("scenario", "technique", "support", "note", "sources"))
    for s in scenarios:
        for t in range(1, techniques + 1):
            note = note_of(s, t)
            writer.writerow(
                (scenario_id(s), technique_id(t), support_of(s, t), note,
                 "synthetic:bench" if note else "")
            )  # fmt: skip
    return out.getvalue().encode()


def batches(scenarios: int, revisions: int) -> list[range]:
    """Scenario rows 1..scenarios split into `revisions` consecutive, near-equal ranges."""
    bounds = [round(i * scenarios / revisions) for i in range(revisions + 1)]
    return [range(bounds[i] + 1, bounds[i + 1] + 1) for i in range(revisions)]


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(f"wrong answer: {message}")


def check_row(body: dict[str, object], s: int, techniques: int, written: bool) -> None:
    items = body["items"]
    assert isinstance(items, list)
    ours = [i for i in items if i["technique"]["id"].startswith("bench-t")]
    expect(len(ours) == techniques, f"row {s}: {len(ours)} techniques, not {techniques}")
    for index, item in enumerate(ours, start=1):
        want = support_of(s, index) if written else "unknown"
        got = item["support"]
        expect(got == want, f"row {s}, technique {index}: {got}, not {want}")
        if written:
            expect(item["note"] == note_of(s, index), f"row {s}, technique {index}: note")


def check_column(body: dict[str, object], t: int, scenarios: int, written_upto: int) -> None:
    items = body["items"]
    assert isinstance(items, list)
    ours = [i for i in items if i["scenario"]["id"].startswith("bench-s")]
    expect(len(ours) == scenarios, f"column {t}: {len(ours)} scenarios, not {scenarios}")
    for index, item in enumerate(ours, start=1):
        want = support_of(index, t) if index <= written_upto else "unknown"
        got = item["support"]
        expect(got == want, f"column {t}, scenario {index}: {got}, not {want}")


def read_after_write(
    client: Client,
    revision: int,
    s: int,
    techniques: int,
    method: str,
    target: str,
    body: dict[str, object],
) -> tuple[int, float]:
    """Write one change, then time the first read of row `s` (a new revision's first read)."""
    status, headers, data, _ = client.call(
        method,
        target,
        json.dumps(body).encode(),
        {
            "Content-Type": "application/json",
            "If-Match": f'"rev-{revision}"',
            "X-Change-Reason": "one more change, by the benchmark",
        },
    )
    if status not in (200, 201):
        raise BenchError(f"{method} {target} answered {status}: {data[:500]!r}")
    revision = int(headers["x-revision"])
    status, headers, data, elapsed = client.call(
        "GET", f"/v1/scenarios/{scenario_id(s)}/techniques"
    )
    expect(status == 200, f"row {s} after a write: status {status}")
    expect(int(headers["x-revision"]) == revision, f"row {s} read an older revision")
    check_row(json.loads(data), s, techniques, written=True)
    return revision, elapsed * 1000


def measure_size(cells: int, args: argparse.Namespace, tmp: Path) -> Result:
    techniques, scenarios = shape(cells)
    result = Result(techniques * scenarios, techniques, scenarios, args.revisions)
    work = tmp / f"size-{cells}"
    work.mkdir()
    database = work / "db.sqlite"
    url = f"sqlite:///{database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTM_")}
    env |= {
        "FTM_DATABASE_URL": url,
        "FTM_MAX_BODY_BYTES": str(64 * 1024 * 1024),
        "FTM_LOG_LEVEL": "warning",
    }
    log(f"{result.cells:,} cells ({techniques} techniques x {scenarios} scenarios)")
    run_cli(["db", "upgrade"], env, work)
    key = run_cli(["keys", "create", "--name", "bench", "--scope", "write"], env, work)
    started = time.perf_counter()
    revision = create_entities(url, techniques, scenarios)
    result.entities_s = time.perf_counter() - started
    log(f"  entities: revision {revision} in {result.entities_s:.1f} s")

    port = free_port()
    command = [str(BIN / "ftmatrix"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running("service", command, env, work, port, work) as server:
        wait_ready(server, "/readyz")
        client = Client(port, key)
        try:
            parts = batches(scenarios, args.revisions)
            revision_of_batch: list[int] = []
            started = time.perf_counter()
            for part in parts:
                body = batch_csv(part, techniques)
                status, headers, data, elapsed = client.call(
                    "PATCH",
                    "/v1/matrix",
                    body,
                    {
                        "Content-Type": "text/csv",
                        "If-Match": f'"rev-{revision}"',
                        "X-Change-Reason": f"synthetic rows {part.start}-{part.stop - 1}",
                    },
                )
                if status != 200:
                    raise BenchError(f"PATCH /v1/matrix answered {status}: {data[:500]!r}")
                revision = int(headers["x-revision"])
                revision_of_batch.append(revision)
                result.slowest_edit_s = max(result.slowest_edit_s, elapsed)
            result.import_s = time.perf_counter() - started
            result.import_hwm_mb = memory_mb(server.process.pid)[1]
            log(f"  import: {len(parts)} revisions in {result.import_s:.1f} s")
            result.db_mb = sum(p.stat().st_size for p in work.glob("db.sqlite*")) / (1024 * 1024)

            rng = random.Random(cells)
            half = len(parts) // 2
            at = revision_of_batch[half - 1] if half else revision_of_batch[0]
            written_at_half = parts[half - 1].stop - 1 if half else parts[0].stop - 1
            reads = {name: Timings() for name in ("row", "column", "cell", "row at=", "column at=")}
            s_ids = rng.sample(range(1, scenarios + 1), min(args.reads, scenarios))
            t_ids = rng.sample(range(1, techniques + 1), min(args.reads, techniques))
            for s in s_ids:
                status, _, data, elapsed = client.call(
                    "GET", f"/v1/scenarios/{scenario_id(s)}/techniques"
                )
                expect(status == 200, f"row {s}: status {status}")
                check_row(json.loads(data), s, techniques, written=True)
                reads["row"].values.append(elapsed * 1000)
                status, _, data, elapsed = client.call(
                    "GET", f"/v1/scenarios/{scenario_id(s)}/techniques?at={at}"
                )
                expect(status == 200, f"row {s} at {at}: status {status}")
                check_row(json.loads(data), s, techniques, written=s <= written_at_half)
                reads["row at="].values.append(elapsed * 1000)
                t = rng.randint(1, techniques)
                status, _, data, elapsed = client.call(
                    "GET", f"/v1/matrix/{scenario_id(s)}/{technique_id(t)}"
                )
                expect(status == 200, f"cell {s}/{t}: status {status}")
                got = json.loads(data)["cell"]["support"]
                expect(got == support_of(s, t), f"cell {s}/{t}: {got}")
                reads["cell"].values.append(elapsed * 1000)
            for t in t_ids:
                status, _, data, elapsed = client.call(
                    "GET", f"/v1/techniques/{technique_id(t)}/scenarios"
                )
                expect(status == 200, f"column {t}: status {status}")
                check_column(json.loads(data), t, scenarios, scenarios)
                reads["column"].values.append(elapsed * 1000)
                status, _, data, elapsed = client.call(
                    "GET", f"/v1/techniques/{technique_id(t)}/scenarios?at={at}"
                )
                expect(status == 200, f"column {t} at {at}: status {status}")
                check_column(json.loads(data), t, scenarios, written_at_half)
                reads["column at="].values.append(elapsed * 1000)
            result.reads = reads
            result.reads_hwm_mb = memory_mb(server.process.pid)[1]
            log("  reads: " + ", ".join(f"{k} p50 {v.p(0.5):.1f} ms" for k, v in reads.items()))
            revision, result.after_cell_write_ms = read_after_write(
                client, revision, s_ids[0], techniques, "PUT",
                f"/v1/matrix/{scenario_id(s_ids[0])}/{technique_id(1)}",
                {"support": support_of(s_ids[0], 1), "note": note_of(s_ids[0], 1),
                 "sources": ["synthetic:bench", "rewritten by the benchmark"]},
            )  # fmt: skip
            revision, result.after_entity_write_ms = read_after_write(
                client, revision, s_ids[-1], techniques, "POST", "/v1/techniques",
                {"id": "bench-extra", "name": "Bench extra", "category": "other"},
            )  # fmt: skip
            log(
                f"  first row read after a cell write {result.after_cell_write_ms:.1f} ms, "
                f"after a new technique {result.after_entity_write_ms:.1f} ms"
            )

            status, _, data, elapsed = client.call("GET", "/v1/matrix?format=csv")
            expect(status == 200, f"full matrix: status {status}")
            lines = data.count(b"\n")  # a header, then one line per cell, unknown ones too
            expect(lines > result.cells, f"full matrix: {lines} lines for {result.cells} cells")
            result.matrix_s = elapsed
            result.matrix_mb = len(data) / (1024 * 1024)
            log(f"  full matrix (CSV): {result.matrix_mb:.0f} MiB in {elapsed:.1f} s")
            status, _, data, elapsed = client.call("GET", "/v1/matrix")
            expect(status == 200, f"full matrix (JSON): status {status}")
            count = data.count(b'{"scenario":')
            expect(count == lines - 1, f"full matrix (JSON): {count} cells, CSV had {lines - 1}")
            result.matrix_json_s = elapsed
            result.matrix_json_mb = len(data) / (1024 * 1024)
            log(f"  full matrix (JSON): {result.matrix_json_mb:.0f} MiB in {elapsed:.1f} s")
            status, _, data, elapsed = client.call("GET", "/v1/export")
            expect(status == 200, f"export: status {status}")
            expect(data.startswith(b'{"format":') and data.endswith(b"}"), "export: not JSON")
            result.export_s = elapsed
            result.export_mb = len(data) / (1024 * 1024)
            log(f"  export: {result.export_mb:.0f} MiB in {elapsed:.1f} s")
            del data

            # Two columns of the matrix, filtered by technique.
            t_pair = (t_ids[0], t_ids[-1])
            status, _, data, elapsed = client.call(
                "GET", f"/v1/matrix?technique={technique_id(t_pair[0])}"
                f"&technique={technique_id(t_pair[1])}&format=csv",
            )  # fmt: skip
            expect(status == 200, f"two columns: status {status}")
            ours = sum(line.startswith(b"bench-s") for line in data.splitlines())
            expect(ours == 2 * scenarios, f"two columns: {ours} lines of ours, not {2 * scenarios}")
            result.columns_ms = elapsed * 1000
            log(f"  two columns of the matrix (CSV): {result.columns_ms:.1f} ms")

            # Revert one import revision (not one whose rows were written again since).
            index = next(i for i, part in enumerate(parts) if s_ids[0] not in part)
            reverted = revision_of_batch[index]
            status, headers, data, elapsed = client.call(
                "POST",
                f"/v1/revisions/{reverted}/revert",
                headers={
                    "If-Match": f'"rev-{revision}"',
                    "X-Change-Reason": "reverted by the benchmark",
                },
            )
            if status not in (200, 201):
                raise BenchError(f"revert of {reverted} answered {status}: {data[:500]!r}")
            revision = int(headers["x-revision"])
            result.revert_s = elapsed
            result.revert_cells = len(parts[index]) * techniques
            s = parts[index].start
            status, _, data, _ = client.call("GET", f"/v1/scenarios/{scenario_id(s)}/techniques")
            expect(status == 200, f"row {s} after the revert: status {status}")
            check_row(json.loads(data), s, techniques, written=False)
            log(f"  revert of {result.revert_cells:,} cells: {elapsed:.1f} s")
            result.rss_mb, result.hwm_mb = memory_mb(server.process.pid)
            log(f"  server memory: {result.rss_mb:.0f} MiB now, {result.hwm_mb:.0f} MiB peak")
        finally:
            client.close()
    return result


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def growth(results: Sequence[Result], value: float, first: float) -> str:
    return f"{value / first:.1f}x" if first > 0 else "n/a"


def render(results: Sequence[Result], args: argparse.Namespace, machine: list[str]) -> str:
    lines = ["# Scale: the service from 10,000 to 1,000,000 cells", ""]
    head = "| figure | target | " + " | ".join(f"{r.cells:,} cells" for r in results)
    if len(results) > 1:
        head += f" | growth {results[0].cells:,} -> {results[-1].cells:,}"
    head += " |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]

    def row(name: str, target: str, values: list[float], fmt: str) -> None:
        cells = [fmt.format(v) for v in values]
        extra = f" | {growth(results, values[-1], values[0])}" if len(results) > 1 else ""
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + extra + " |")

    row("techniques x scenarios", "", [float(r.techniques * r.scenarios) for r in results],
        "{:,.0f}")  # fmt: skip
    row("entities, one revision, in-process (s)", "", [r.entities_s for r in results], "{:.1f}")
    row(f"bulk import, {args.revisions} PATCH /v1/matrix (s)", f"< {IMPORT_TARGET_S:.0f} s",
        [r.import_s for r in results], "{:.1f}")  # fmt: skip
    row("slowest single PATCH (s)", "", [r.slowest_edit_s for r in results], "{:.2f}")
    row("database files (MiB)", "", [r.db_mb for r in results], "{:.0f}")
    labels = {
        "row": ("one scenario's row", True),
        "column": ("one technique's column", True),
        "cell": ("one cell", False),
        "row at=": ("a row as of the halfway revision", False),
        "column at=": ("a column as of the halfway revision", False),
    }
    for name, (label, targeted) in labels.items():
        target = f"p50 < {READ_TARGET_MS:.0f} ms" if targeted else ""
        row(f"{label}, p50 (ms)", target, [r.reads[name].p(0.5) for r in results], "{:.1f}")
        row(f"{label}, p99 (ms)", "", [r.reads[name].p(0.99) for r in results], "{:.1f}")
    row("first row read after a one-cell write (ms)", "",
        [r.after_cell_write_ms for r in results], "{:.1f}")  # fmt: skip
    row("first row read after a new technique (ms)", "",
        [r.after_entity_write_ms for r in results], "{:.1f}")  # fmt: skip
    row("full matrix as CSV, one request (s)", "", [r.matrix_s for r in results], "{:.2f}")
    row("full matrix as CSV (MiB)", "", [r.matrix_mb for r in results], "{:.1f}")
    row("full matrix as JSON, one request (s)", "", [r.matrix_json_s for r in results], "{:.2f}")
    row("full matrix as JSON (MiB)", "", [r.matrix_json_mb for r in results], "{:.1f}")
    row("GET /v1/export, one request (s)", "", [r.export_s for r in results], "{:.2f}")
    row("GET /v1/export (MiB)", "", [r.export_mb for r in results], "{:.1f}")
    row("two columns of the matrix as CSV (ms)", "", [r.columns_ms for r in results], "{:.1f}")
    row("revert of one import revision (cells)", "", [float(r.revert_cells) for r in results],
        "{:,.0f}")  # fmt: skip
    row("revert of one import revision (s)", "", [r.revert_s for r in results], "{:.2f}")
    row("server memory at the end, VmRSS (MiB)", f"< {MEMORY_TARGET_MB:.0f} MiB",
        [r.rss_mb for r in results], "{:.0f}")  # fmt: skip
    row("server memory peak after the import, VmHWM (MiB)", "",
        [r.import_hwm_mb for r in results], "{:.0f}")  # fmt: skip
    row("server memory peak after the row/column/cell reads, VmHWM (MiB)", "",
        [r.reads_hwm_mb for r in results], "{:.0f}")  # fmt: skip
    row("server memory peak after the full documents, VmHWM (MiB)",
        f"< {MEMORY_TARGET_MB:.0f} MiB", [r.hwm_mb for r in results], "{:.0f}")  # fmt: skip
    last = results[-1]
    verdicts = [
        ("bulk import", last.import_s < IMPORT_TARGET_S),
        ("row p50", last.reads["row"].p(0.5) < READ_TARGET_MS),
        ("column p50", last.reads["column"].p(0.5) < READ_TARGET_MS),
        ("server memory", last.hwm_mb < MEMORY_TARGET_MB),
    ]
    lines += [
        "",
        f"Targets at {last.cells:,} cells: "
        + ", ".join(f"{name} {'met' if ok else '**not met**'}" for name, ok in verdicts)
        + ". Every read was checked against the data written (and, as of the halfway "
        "revision, against what was not written yet).",
        "",
        "Machine:",
        "",
        *machine,
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{' '.join(['.venv/bin/python', 'bench/scale.py', *sys.argv[1:]])}`",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in DEFAULT_SIZES),
        help="catalog sizes in cells, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--revisions", type=int, default=50, help="bulk edits per import")
    parser.add_argument("--reads", type=int, default=200, help="reads of each kind per size")
    parser.add_argument("--output", type=Path, default=Path("bench/results/scale.md"))
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory with the databases"
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be numbers of cells, comma-separated: {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 4 or args.revisions < 1 or args.reads < 1:
        parser.error("sizes must be >= 4 cells, --revisions and --reads >= 1")
    return args


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="ftmatrix-scale-"))
    load_before = load_average()
    code = code_version()
    try:
        results = [measure_size(cells, args, tmp) for cells in args.size_list]
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    machine = [line for line in machine_lines("true", code, load_before, load_average())
               if not line.startswith("- wrk")]  # fmt: skip
    report = render(results, args, machine)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
