"""CSV and Markdown of the lists: one row per entity, the columns a reader scans first.

JSON is the full record; these flat forms name each entity's key facts and join lists with
" ; " (as the matrix's CSV joins sources), so a spreadsheet or a README table can hold them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.catalog.render import md_cell, neutralize
from service.snapshot import EntityData

SEPARATOR = " ; "


def _join(values: Sequence[Any]) -> str:
    return SEPARATOR.join(str(v) for v in values)


def _model_row(e: EntityData) -> list[str]:
    d, arch = e.data, e.data.get("architecture") or {}
    life = d["lifecycle"]
    return [e.id, d["name"], d.get("family") or "", life["status"], life.get("retired_on") or "",
            str(arch.get("layers") or ""), str(arch.get("hidden") or ""),
            arch.get("confidence") or "", _join(d["sources"])]  # fmt: skip


def _hardware_row(e: EntityData) -> list[str]:
    d = e.data
    flags = {True: "yes", False: "no", None: ""}
    return [e.id, d["name"], d["kind"], str(d.get("memory_bytes") or ""),
            d.get("memory_stated") or "", flags[d.get("bf16")], flags[d.get("fp8")],
            d.get("confidence") or "", _join(d["sources"])]  # fmt: skip


def _platform_row(e: EntityData) -> list[str]:
    d = e.data
    return [e.id, d["name"], d["kind"], _join(d["aliases"]), _join(d["sources"])]


def _offering_row(e: EntityData) -> list[str]:
    d = e.data
    supported = [m["model"] for m in d["models"] if m["status"] == "supported"]
    return [e.id, d["name"], d.get("platform") or "", d["mode"], d["lifecycle"]["status"],
            _join(supported) + (" ; (any model)" if d.get("any_model") else ""),
            _join([t["technique"] for t in d["techniques"]]), _join(d["sources"])]  # fmt: skip


COLUMNS: Mapping[str, tuple[tuple[str, ...], Callable[[EntityData], list[str]]]] = {
    "model": (("id", "name", "family", "status", "retired_on", "layers", "hidden",
               "architecture_confidence", "sources"), _model_row),
    "hardware": (("id", "name", "kind", "memory_bytes", "memory_stated", "bf16", "fp8",
                  "confidence", "sources"), _hardware_row),
    "platform": (("id", "name", "kind", "aliases", "sources"), _platform_row),
    "offering": (("id", "name", "platform", "mode", "status", "models", "techniques",
                  "sources"), _offering_row),
}  # fmt: skip


def table_csv(kind: str, items: Sequence[EntityData]) -> str:
    """RFC 4180 CSV (CRLF) with a header row; fields neutralized against formula injection."""
    header, row = COLUMNS[kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralize(str(cell)) for cell in row(e)] for e in items)
    return out.getvalue()


def table_markdown(kind: str, items: Sequence[EntityData]) -> str:
    """A GitHub-flavoured Markdown table with a header row."""
    header, row = COLUMNS[kind]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(str(cell)) for cell in row(e)) + " |" for e in items]
    return "\n".join(lines) + "\n"
