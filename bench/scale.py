"""How the service grows with the catalog: import, row and column reads, time travel, memory.

Run from the repository root, with the project installed in `.venv`:

    .venv/bin/python bench/scale.py [--database sqlite|postgresql|both]
                                    [--sizes 10000,100000,1000000] [--revisions 50]
                                    [--reads 200] [--output bench/results/scale.md] [--keep]

For each database and each size (a number of cells: techniques x scenarios, one technique to
four scenarios, so 1,000,000 cells are 500 techniques x 2,000 scenarios), in a fresh database
(a SQLite file in a temporary directory, or a new database on a throwaway PostgreSQL server
started as the tests start one, bench/databases.py):

1. `ftmatrix db upgrade` (the shipped data), and a write key.
2. The synthetic techniques and scenarios are created in one revision, in-process, through the
   service's own write path (`Writer` with `service.admin.service.create_technique` /
   `create_scenario`, the code behind `POST /v1/techniques` and `POST /v1/scenarios`).
3. `ftmatrix serve` starts (one worker). The cells are imported over HTTP in `--revisions` bulk
   edits, `PATCH /v1/matrix` with a CSV body, each one revision holding an equal share of the
   scenario rows (every technique's cell in them). This is the timed bulk import (the CSV
   bodies are generated before the clock starts).
4. Reads, each for a different, random id so that none is a cache hit: one scenario's row
   (`GET /v1/scenarios/{id}/techniques`), one technique's column
   (`GET /v1/techniques/{id}/scenarios`), one cell, and the same row and column read as of the
   revision halfway through the import (`?at=`). Every answer is checked against what the
   generator wrote (or, as of the halfway revision, had not written yet).
5. One cell written (`PUT`), then one technique created (`POST /v1/techniques`), each followed by
   the first read of a row at the new revision: the cost of a new revision to the next reader.
6. The full matrix as CSV and as JSON (`GET /v1/matrix`), and the whole snapshot document
   (`GET /v1/export`), once each, checked for their number of cells; two columns of the matrix;
   the revert of one import revision.
7. The server's peak memory (VmHWM, from /proc) after the import, after the reads and at the end,
   and its resident memory (VmRSS) at the end.

Targets at the largest size (issue 17 item 4): the import under 60 s, row and column reads with
a p99 under 20 ms, the server's memory under 1 GiB. Everything stays on 127.0.0.1. Exit 0
whether or not the targets are met; 1 when something could not run or a read returned wrong
data; 2 on bad arguments; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make `bench` and `service` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import (
    DATABASES,
    PostgresServer,
    database_choices,
    sqlite_size_mb,
    sqlite_url,
    throwaway_postgres,
)
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
from bench.scale_data import (
    batch_csv,
    batches,
    check_column,
    check_row,
    create_entities,
    expect,
    note_of,
    scenario_id,
    shape,
    support_of,
    technique_id,
)
from bench.scale_report import Result, Timings, render

REQUEST_TIMEOUT_S = 600.0
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


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


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


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


def import_cells(
    client: Client, result: Result, parts: Sequence[range], revision: int
) -> tuple[int, list[int]]:
    """The timed bulk import; the newest revision, and the revision of each part."""
    revision_of_part: list[int] = []
    # Generated before the clock starts: the time is the service's, not the generator's.
    bodies = [batch_csv(part, result.techniques) for part in parts]
    started = time.perf_counter()
    for part, body in zip(parts, bodies, strict=True):
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
        revision_of_part.append(revision)
        result.slowest_edit_s = max(result.slowest_edit_s, elapsed)
    result.import_s = time.perf_counter() - started
    log(f"  import: {len(parts)} revisions in {result.import_s:.1f} s")
    return revision, revision_of_part


def timed_reads(
    client: Client, result: Result, args: argparse.Namespace, at: int, written_at: int
) -> tuple[list[int], list[int]]:
    """Rows, columns and cells of random ids, now and as of revision `at` (when the rows up to
    `written_at` were written); the ids read."""
    techniques, scenarios = result.techniques, result.scenarios
    rng = random.Random(result.cells)
    reads = {name: Timings() for name in ("row", "column", "cell", "row at=", "column at=")}
    s_ids = rng.sample(range(1, scenarios + 1), min(args.reads, scenarios))
    t_ids = rng.sample(range(1, techniques + 1), min(args.reads, techniques))
    for s in s_ids:
        row = f"/v1/scenarios/{scenario_id(s)}/techniques"
        status, _, data, elapsed = client.call("GET", row)
        expect(status == 200, f"row {s}: status {status}")
        check_row(json.loads(data), s, techniques, written=True)
        reads["row"].values.append(elapsed * 1000)
        status, _, data, elapsed = client.call("GET", f"{row}?at={at}")
        expect(status == 200, f"row {s} at {at}: status {status}")
        check_row(json.loads(data), s, techniques, written=s <= written_at)
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
        column = f"/v1/techniques/{technique_id(t)}/scenarios"
        status, _, data, elapsed = client.call("GET", column)
        expect(status == 200, f"column {t}: status {status}")
        check_column(json.loads(data), t, scenarios, scenarios)
        reads["column"].values.append(elapsed * 1000)
        status, _, data, elapsed = client.call("GET", f"{column}?at={at}")
        expect(status == 200, f"column {t} at {at}: status {status}")
        check_column(json.loads(data), t, scenarios, written_at)
        reads["column at="].values.append(elapsed * 1000)
    result.reads = reads
    summary = ", ".join(f"{k} p50 {v.p(0.5):.1f} p99 {v.p(0.99):.1f} ms" for k, v in reads.items())
    log(f"  reads: {summary}")
    return s_ids, t_ids


def documents(client: Client, result: Result, t_pair: tuple[int, int]) -> None:
    """The full matrix (CSV, JSON), the export and two columns, once each, checked."""
    status, _, data, elapsed = client.call("GET", "/v1/matrix?format=csv")
    expect(status == 200, f"full matrix: status {status}")
    lines = data.count(b"\n")  # a header, then one line per cell, unknown ones too
    expect(lines > result.cells, f"full matrix: {lines} lines for {result.cells} cells")
    result.matrix_s, result.matrix_mb = elapsed, len(data) / (1024 * 1024)
    log(f"  full matrix (CSV): {result.matrix_mb:.0f} MiB in {elapsed:.1f} s")
    status, _, data, elapsed = client.call("GET", "/v1/matrix")
    expect(status == 200, f"full matrix (JSON): status {status}")
    count = data.count(b'{"scenario":')
    expect(count == lines - 1, f"full matrix (JSON): {count} cells, CSV had {lines - 1}")
    result.matrix_json_s, result.matrix_json_mb = elapsed, len(data) / (1024 * 1024)
    log(f"  full matrix (JSON): {result.matrix_json_mb:.0f} MiB in {elapsed:.1f} s")
    status, _, data, elapsed = client.call("GET", "/v1/export")
    expect(status == 200, f"export: status {status}")
    expect(data.startswith(b'{"format":') and data.endswith(b"}"), "export: not JSON")
    result.export_s, result.export_mb = elapsed, len(data) / (1024 * 1024)
    log(f"  export: {result.export_mb:.0f} MiB in {elapsed:.1f} s")
    del data

    first, last = (technique_id(t) for t in t_pair)
    status, _, data, elapsed = client.call(
        "GET", f"/v1/matrix?technique={first}&technique={last}&format=csv"
    )
    expect(status == 200, f"two columns: status {status}")
    ours = sum(line.startswith(b"bench-s") for line in data.splitlines())
    scenarios = result.scenarios
    expect(ours == 2 * scenarios, f"two columns: {ours} lines of ours, not {2 * scenarios}")
    result.columns_ms = elapsed * 1000
    log(f"  two columns of the matrix (CSV): {result.columns_ms:.1f} ms")


def revert_one(client: Client, result: Result, revision: int, part: range, reverted: int) -> int:
    """Revert the import revision `reverted` (which wrote `part`), check a row; the new revision."""
    status, headers, data, elapsed = client.call(
        "POST",
        f"/v1/revisions/{reverted}/revert",
        headers={"If-Match": f'"rev-{revision}"', "X-Change-Reason": "reverted by the benchmark"},
    )
    if status not in (200, 201):
        raise BenchError(f"revert of {reverted} answered {status}: {data[:500]!r}")
    result.revert_s = elapsed
    result.revert_cells = len(part) * result.techniques
    s = part.start
    status, _, data, _ = client.call("GET", f"/v1/scenarios/{scenario_id(s)}/techniques")
    expect(status == 200, f"row {s} after the revert: status {status}")
    check_row(json.loads(data), s, result.techniques, written=False)
    log(f"  revert of {result.revert_cells:,} cells: {elapsed:.1f} s")
    return int(headers["x-revision"])


@contextmanager
def size_database(
    database: str, cells: int, work: Path, postgres: PostgresServer | None, keep: bool
) -> Iterator[tuple[str, PostgresServer | None]]:
    """A fresh database for one size: its URL; a PostgreSQL one is dropped after, unless kept."""
    if postgres is None:
        yield sqlite_url(work / "db.sqlite"), None
        return
    name = f"scale_{cells}"
    url = postgres.create_database(name)
    try:
        yield url, postgres
    finally:
        if not keep:
            postgres.drop_database(name)


def measure_size(
    cells: int,
    args: argparse.Namespace,
    tmp: Path,
    database: str,
    postgres: PostgresServer | None,
) -> Result:
    techniques, scenarios = shape(cells)
    result = Result(database, techniques * scenarios, techniques, scenarios, args.revisions)
    work = tmp / f"{database}-{cells}"
    work.mkdir()
    log(f"{database}: {result.cells:,} cells ({techniques} techniques x {scenarios} scenarios)")
    with size_database(database, cells, work, postgres, args.keep) as (url, pg):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FTM_")}
        env |= {
            "FTM_DATABASE_URL": url,
            "FTM_MAX_BODY_BYTES": str(64 * 1024 * 1024),
            "FTM_LOG_LEVEL": "warning",
        }

        def size() -> float:
            if pg is not None:
                return pg.size_mb(f"scale_{cells}")
            return sqlite_size_mb(work / "db.sqlite")

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
                measure_served(client, result, args, revision, server.process.pid, size)
            finally:
                client.close()
    return result


def measure_served(
    client: Client,
    result: Result,
    args: argparse.Namespace,
    revision: int,
    pid: int,
    size: Callable[[], float],
) -> None:
    """Everything measured over HTTP, in order: import, reads, writes, documents, revert;
    `pid` is the server's, `size` the database's size in MiB."""
    parts = batches(result.scenarios, args.revisions)
    revision, revision_of_part = import_cells(client, result, parts, revision)
    result.import_hwm_mb = memory_mb(pid)[1]
    result.db_mb = size()

    half = len(parts) // 2
    at = revision_of_part[half - 1] if half else revision_of_part[0]
    written_at_half = parts[half - 1].stop - 1 if half else parts[0].stop - 1
    s_ids, t_ids = timed_reads(client, result, args, at, written_at_half)
    result.reads_hwm_mb = memory_mb(pid)[1]

    techniques, first = result.techniques, s_ids[0]
    revision, result.after_cell_write_ms = read_after_write(
        client, revision, first, techniques, "PUT",
        f"/v1/matrix/{scenario_id(first)}/{technique_id(1)}",
        {"support": support_of(first, 1), "note": note_of(first, 1),
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

    documents(client, result, (t_ids[0], t_ids[-1]))
    # Revert one import revision: not one whose rows were written again since.
    index = next(i for i, part in enumerate(parts) if first not in part)
    revert_one(client, result, revision, parts[index], revision_of_part[index])
    result.rss_mb, result.hwm_mb = memory_mb(pid)
    log(f"  server memory: {result.rss_mb:.0f} MiB now, {result.hwm_mb:.0f} MiB peak")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database",
        default="sqlite",
        choices=[*DATABASES, "both"],
        help="the database(s) to run on (default: %(default)s)",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in DEFAULT_SIZES),
        help="catalog sizes in cells, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--revisions", type=int, default=50, help="bulk edits per import")
    parser.add_argument("--reads", type=int, default=200, help="reads of each kind per size")
    parser.add_argument("--output", type=Path, default=Path("bench/results/scale.md"))
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the SQLite databases (and PostgreSQL's data directory) for inspection",
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be numbers of cells, comma-separated: {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 4 or args.revisions < 1 or args.reads < 1:
        parser.error("sizes must be >= 4 cells, --revisions and --reads >= 1")
    args.database_list = database_choices(args.database)
    return args


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="ftmatrix-scale-"))
    load_before = load_average()
    code = code_version()
    notes: list[str] = []
    results: list[Result] = []
    try:
        for database in args.database_list:
            with ExitStack() as stack:
                postgres = None
                if database == "postgresql":
                    postgres = stack.enter_context(throwaway_postgres(keep=args.keep))
                    notes.append(f"- PostgreSQL: {postgres.version()}, throwaway, fsync=off")
                for cells in args.size_list:
                    results.append(measure_size(cells, args, tmp, database, postgres))
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
    report = render(results, args, machine + notes)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
