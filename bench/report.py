"""The Markdown report of `bench/run.py`: one table per database, every row beside the raw app,
targets met or not, reads during writes with the writers' own figures, the machine, the logs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from bench.harness import BUSY_SHARE
from bench.scenarios import P99_TARGET_CONNECTIONS, P99_TARGET_MS, Endpoint, Scenario
from bench.writers import WriteWindow
from bench.wrk import WrkResult, fmt_errors, fmt_ms, fmt_rps

DATABASE_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True)
class Row:
    """One request of one scenario on one database: the service and the raw app."""

    database: str
    scenario: Scenario
    endpoint: Endpoint
    service: WrkResult
    raw: WrkResult
    writes: WriteWindow | None = None

    @property
    def others_share(self) -> float:
        return max(self.service.others_share, self.raw.others_share)

    @property
    def ratio(self) -> float | None:
        if self.service.rps is None or not self.raw.rps:
            return None
        return self.service.rps / self.raw.rps

    @property
    def met(self) -> bool:
        """The row's throughput target, met with no unexpected answer (and, under writes, with
        writes actually accepted meanwhile)."""
        if self.service.errors:
            return False
        if self.endpoint.rate_target is not None:
            wrote = self.writes is not None and self.writes.accepted > 0
            rps = self.service.rps or 0.0
            return wrote and rps >= self.endpoint.rate_target
        ratio = self.ratio
        target = self.endpoint.ratio_target
        return ratio is not None and target is not None and ratio >= target

    @property
    def p99_met(self) -> bool | None:
        """None where the row has no latency target."""
        if not self.endpoint.p99_target:
            return None
        return self.service.p99_ms is not None and self.service.p99_ms < P99_TARGET_MS


def target_text(endpoint: Endpoint) -> str:
    if endpoint.rate_target is not None:
        return f">= {endpoint.rate_target:,.0f} req/s"
    return f">= {endpoint.ratio_target:.2g}x" if endpoint.ratio_target is not None else ""


def fmt_ratio(ratio: float | None) -> str:
    """Two decimals; three below 0.1, so that a miss just under 0.05x does not read 0.05x."""
    if ratio is None:
        return "?"
    return f"{ratio:.3f}x" if ratio < 0.1 else f"{ratio:.2f}x"


def yes_no(value: bool | None) -> str:
    if value is None:
        return "-"
    return "yes" if value else "**no**"


def fmt_share(row: Row) -> str:
    text = f"{row.service.others_share:.0%} / {row.raw.others_share:.0%}"
    return f"**{text}**" if row.others_share >= BUSY_SHARE else text


HEADER = (
    "| scenario | request | service req/s | raw req/s | ratio | target | met? "
    "| service p50 | service p99 | p99 < 20 ms? | raw p50 | raw p99 "
    "| unexpected (service / raw) | other CPU (service / raw) |"
)


def table(rows: Sequence[Row]) -> list[str]:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        ratio = row.ratio
        cells = [
            row.scenario.name,
            f"`{row.endpoint.name}`",
            fmt_rps(row.service.rps),
            fmt_rps(row.raw.rps),
            fmt_ratio(ratio),
            target_text(row.endpoint),
            yes_no(row.met),
            fmt_ms(row.service.p50_ms),
            fmt_ms(row.service.p99_ms),
            yes_no(row.p99_met),
            fmt_ms(row.raw.p50_ms),
            fmt_ms(row.raw.p99_ms),
            f"{fmt_errors(row.service)} / {fmt_errors(row.raw)}",
            fmt_share(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def writes_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| database | readers req/s | target | met? | raw app req/s | writes accepted/s "
        "| writes accepted | 412s (retried) | write errors | write p50 | write p99 |",
        "|" + "---|" * 11,
    ]
    for row in rows:
        w = row.writes
        if w is None:
            continue
        cells = [
            DATABASE_TITLES[row.database],
            fmt_rps(row.service.rps),
            target_text(row.endpoint),
            yes_no(row.met),
            fmt_rps(row.raw.rps),
            f"{w.rate:,.1f}",
            f"{w.accepted:,}",
            f"{w.conflicts:,}",
            f"{w.errors:,}" + (f" (first: {w.first_error[:200]})" if w.errors else ""),
            fmt_ms(w.p50_ms),
            fmt_ms(w.p99_ms),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(rows: Sequence[Row]) -> list[str]:
    """One line per database and scenario: how many targets were met."""
    lines = []
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.database, row.scenario.name), []).append(row)
    for (database, _), group in groups.items():
        scenario = group[0].scenario
        text = f"- {DATABASE_TITLES[database]}, {scenario.title}: "
        text += f"{sum(r.met for r in group)} of {len(group)} throughput targets met"
        timed = [r.p99_met for r in group if r.p99_met is not None]
        if timed:
            text += f"; p99 under {P99_TARGET_MS:.0f} ms {sum(timed)} of {len(timed)}"
        lines.append(text + ".")
    return lines


def render(
    rows: Sequence[Row],
    args: argparse.Namespace,
    machine: Sequence[str],
    command: str,
    when: str,
    service_logs: Sequence[str],
    contention: Sequence[str],
) -> str:
    """The whole report."""
    errors = sum(row.service.errors + row.raw.errors for row in rows)
    p99_note = (
        ""
        if args.connections == P99_TARGET_CONNECTIONS
        else f" The p99 target is stated at {P99_TARGET_CONNECTIONS} connections."
    )
    out = [
        "# ftmatrix service vs a raw ASGI app",
        "",
        f"wrk `-t{args.threads} -c{args.connections} -d{args.duration}s --latency` on "
        f"127.0.0.1, after a {args.warmup} s warm-up per request per server; service first, "
        "raw app second, request by request. Both run under the same uvicorn, one worker; the "
        f"raw app answers the service's own captured bytes.{p99_note}",
        "",
        "## Targets",
        "",
        *summary(rows),
        "- Unexpected responses (wrong status or body length) and socket errors: "
        + (f"**{errors}**" if errors else "none")
        + ".",
        *contention,
    ]
    for database in DATABASE_TITLES:
        ours = [row for row in rows if row.database == database]
        if ours:
            out += ["", f"## {DATABASE_TITLES[database]}", "", *table(ours)]
    during = [row for row in rows if row.writes is not None]
    if during:
        out += ["", "## Reads during writes", "", *writes_table(during)]
    out += [
        "",
        "## Machine",
        "",
        *machine,
        f"- date: {when}",
        f"- command: `{command}`",
        "",
        "## Service logs during the run",
        "",
        *service_logs,
        "",
        "<details><summary>wrk output</summary>",
        "",
    ]
    for row in rows:
        for name, result in (("service", row.service), ("raw", row.raw)):
            title = f"{DATABASE_TITLES[row.database]}, {row.scenario.name}, {name}"
            out += [f"{title}, `{row.endpoint.name}`:", "", "```", result.output.rstrip(), "```"]
            out.append("")
    out.append("</details>")
    return "\n".join(out) + "\n"
