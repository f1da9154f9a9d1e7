"""Revision 1: the Phi-3 Cookbook's published Fine Tuning Scenarios table, verbatim.

The table is read from migrations/seed/phi3-cookbook-fine-tuning-scenarios.md (a verbatim copy of
the page), the scenarios' ids and kinds from seed/scenarios.json, and the techniques' papers,
facts and libraries from seed/techniques.json (compiled from sourced facts). Technique names are
the table's column headers as published ("DORA"); revision 2 applies the Cookbook's corrections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import op

from migrations import seedlib

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 1
REASON = "Phi-3 Cookbook 'Fine Tuning Scenarios' table as published (2024)"
CREATED_AT = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
TABLE_FILE = "phi3-cookbook-fine-tuning-scenarios.md"


def published_table() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The column headers and (title, Yes/No cells) rows of the table in the seed page."""
    lines = (seedlib.SEED_DIR / TABLE_FILE).read_text(encoding="utf-8").splitlines()
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in lines
        if line.startswith("|")
    ]
    header_at = next(i for i, r in enumerate(rows) if r and r[0] == "Scenario")
    header = rows[header_at][1:]
    body = [(r[0], r[1:]) for r in rows[header_at + 1 :]]
    return header, body


def upgrade() -> None:
    conn = op.get_bind()
    scenarios_seed = seedlib.load_json("scenarios.json")
    techniques_seed = {t["id"]: t for t in seedlib.load_json("techniques.json")["techniques"]}
    table_source = scenarios_seed["source"]
    header, body = published_table()
    diff: list[dict[str, Any]] = []
    seedlib.insert_revision(conn, REVISION, REASON, CREATED_AT, diff=[])

    technique_keys: dict[str, int] = {}
    for name in header:
        slug = scenarios_seed["columns"][name]
        data = techniques_seed[slug]
        technique_keys[slug] = seedlib.create_entity(conn, seedlib.technique_t, REVISION)
    for name in header:
        slug = scenarios_seed["columns"][name]
        data = techniques_seed[slug]
        parent = technique_keys[data["parent"]] if data["parent"] else None
        diff.append(
            seedlib.insert_technique(conn, REVISION, technique_keys[slug], slug, name, data, parent)
        )

    by_title = {s["title"]: s for s in scenarios_seed["scenarios"]}
    for title, cells in body:
        scenario = by_title[title]
        key = seedlib.create_entity(conn, seedlib.scenario_t, REVISION)
        values = {
            "slug": scenario["id"],
            "title": title,
            "kind": scenario["kind"],
            "description": scenario["description"],
            "aliases": scenario["aliases"],
            "sources": [table_source],
        }
        seedlib.insert_version(
            conn, seedlib.scenario_version_t, values | {"scenario_id": key, "valid_from": REVISION}
        )
        diff.append(
            {
                "op": "create",
                "kind": "scenario",
                "id": scenario["id"],
                "before": None,
                "after": values,
            }
        )
        for name, text in zip(header, cells, strict=True):
            slug = scenarios_seed["columns"][name]
            cell = {
                "support": {"Yes": "yes", "No": "no"}[text],
                "note": "As published in the Phi-3 Cookbook's Fine Tuning Scenarios table (2024).",
                "sources": [table_source],
            }
            seedlib.insert_version(
                conn,
                seedlib.cell_version_t,
                cell
                | {
                    "scenario_id": key,
                    "technique_id": technique_keys[slug],
                    "valid_from": REVISION,
                },
            )
            diff.append(
                {
                    "op": "create",
                    "kind": "cell",
                    "id": f"{scenario['id']}/{slug}",
                    "before": None,
                    "after": cell,
                }
            )

    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_revision(op.get_bind(), REVISION)
