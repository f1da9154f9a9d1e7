"""The Markdown report of `bench/scale.py`: one table per database, a column per catalog size,
the growth from the smallest to the largest, and the targets at the largest size."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

READ_TARGET_MS = 20.0  # issue 17 item 4: row and column reads, p99
IMPORT_TARGET_S = 60.0
MEMORY_TARGET_MB = 1024.0
DATABASE_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass
class Timings:
    """Latencies in milliseconds of one kind of read."""

    values: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    """Everything measured at one size on one database."""

    database: str
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


READS = {
    "row": ("one scenario's row", True),
    "column": ("one technique's column", True),
    "cell": ("one cell", False),
    "row at=": ("a row as of the halfway revision", False),
    "column at=": ("a column as of the halfway revision", False),
}


def verdicts(last: Result) -> list[tuple[str, bool]]:
    """The targets at the largest size (issue 17 item 4), met or not."""
    return [
        ("bulk import", last.import_s < IMPORT_TARGET_S),
        ("row p99", last.reads["row"].p(0.99) < READ_TARGET_MS),
        ("column p99", last.reads["column"].p(0.99) < READ_TARGET_MS),
        ("server memory", last.hwm_mb < MEMORY_TARGET_MB),
    ]


def percentile(read: str, q: float) -> Callable[[Result], float]:
    """The q-quantile of one kind of read, of a result."""
    return lambda result: result.reads[read].p(q)


def table(results: Sequence[Result], args: argparse.Namespace) -> list[str]:
    """One database's table: a figure per line, a size per column."""
    head = "| figure | target | " + " | ".join(f"{r.cells:,} cells" for r in results)
    if len(results) > 1:
        head += f" | growth {results[0].cells:,} -> {results[-1].cells:,}"
    head += " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def row(name: str, target: str, value: Callable[[Result], float], fmt: str) -> None:
        values = [value(r) for r in results]
        cells = [fmt.format(v) for v in values]
        extra = ""
        if len(results) > 1:
            extra = f" | {values[-1] / values[0]:.1f}x" if values[0] > 0 else " | n/a"
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + extra + " |")

    size = "database size (MiB)" if results[0].database == "postgresql" else "database files (MiB)"
    memory = f"< {MEMORY_TARGET_MB:.0f} MiB"
    row("techniques x scenarios", "", lambda r: float(r.techniques * r.scenarios), "{:,.0f}")
    row("entities, one revision, in-process (s)", "", lambda r: r.entities_s, "{:.1f}")
    row(f"bulk import, {args.revisions} PATCH /v1/matrix (s)", f"< {IMPORT_TARGET_S:.0f} s",
        lambda r: r.import_s, "{:.1f}")  # fmt: skip
    row("slowest single PATCH (s)", "", lambda r: r.slowest_edit_s, "{:.2f}")
    row(size, "", lambda r: r.db_mb, "{:.0f}")
    for name, (label, targeted) in READS.items():
        target = f"p99 < {READ_TARGET_MS:.0f} ms" if targeted else ""
        row(f"{label}, p50 (ms)", "", percentile(name, 0.5), "{:.1f}")
        row(f"{label}, p99 (ms)", target, percentile(name, 0.99), "{:.1f}")
    row("first row read after a one-cell write (ms)", "",
        lambda r: r.after_cell_write_ms, "{:.1f}")  # fmt: skip
    row("first row read after a new technique (ms)", "",
        lambda r: r.after_entity_write_ms, "{:.1f}")  # fmt: skip
    row("full matrix as CSV, one request (s)", "", lambda r: r.matrix_s, "{:.2f}")
    row("full matrix as CSV (MiB)", "", lambda r: r.matrix_mb, "{:.1f}")
    row("full matrix as JSON, one request (s)", "", lambda r: r.matrix_json_s, "{:.2f}")
    row("full matrix as JSON (MiB)", "", lambda r: r.matrix_json_mb, "{:.1f}")
    row("GET /v1/export, one request (s)", "", lambda r: r.export_s, "{:.2f}")
    row("GET /v1/export (MiB)", "", lambda r: r.export_mb, "{:.1f}")
    row("two columns of the matrix as CSV (ms)", "", lambda r: r.columns_ms, "{:.1f}")
    row("revert of one import revision (cells)", "", lambda r: float(r.revert_cells), "{:,.0f}")
    row("revert of one import revision (s)", "", lambda r: r.revert_s, "{:.2f}")
    row("server memory at the end, VmRSS (MiB)", "", lambda r: r.rss_mb, "{:.0f}")
    row("server memory peak after the import, VmHWM (MiB)", "",
        lambda r: r.import_hwm_mb, "{:.0f}")  # fmt: skip
    row("server memory peak after the row/column/cell reads, VmHWM (MiB)", "",
        lambda r: r.reads_hwm_mb, "{:.0f}")  # fmt: skip
    row("server memory peak at the end, VmHWM (MiB)", memory, lambda r: r.hwm_mb, "{:.0f}")
    last = results[-1]
    met = ", ".join(f"{name} {'met' if ok else '**not met**'}" for name, ok in verdicts(last))
    lines += ["", f"Targets at {last.cells:,} cells: {met}."]
    return lines


def render(results: Sequence[Result], args: argparse.Namespace, machine: Sequence[str]) -> str:
    """The whole report."""
    sizes = sorted({r.cells for r in results})
    lines = [f"# Scale: the service from {sizes[0]:,} to {sizes[-1]:,} cells", ""]
    for database, title in DATABASE_TITLES.items():
        ours = [r for r in results if r.database == database]
        if ours:
            lines += [f"## {title}", "", *table(ours, args), ""]
    lines += [
        "Every read was checked against the data written (and, as of the halfway revision, "
        "against what was not written yet). Server memory is the service's process only "
        "(not PostgreSQL's).",
        "",
        "Machine:",
        "",
        *machine,
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{' '.join(['.venv/bin/python', 'bench/scale.py', *sys.argv[1:]])}`",
        "",
    ]
    return "\n".join(lines)
