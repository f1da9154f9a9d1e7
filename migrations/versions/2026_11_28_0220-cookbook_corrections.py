"""Revision 2: corrections from the Phi-3 Cookbook's revised table.

Six cells the Cookbook later corrected, each with a note and sources, and the column spelling
DORA -> DoRA that the revised table adopted. Data from migrations/seed/corrections.json.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import op

from migrations import seedlib

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 2
CREATED_AT = datetime(2026, 11, 28, 0, 1, tzinfo=UTC)


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json("corrections.json")
    seedlib.insert_revision(conn, REVISION, seed["reason"], CREATED_AT, diff=[])
    diff: list[dict[str, Any]] = []
    for cell in seed["cells"]:
        scenario_key = seedlib.current_key(
            conn, seedlib.scenario_version_t, "scenario_id", cell["scenario"]
        )
        technique_key = seedlib.current_key(
            conn, seedlib.technique_version_t, "technique_id", cell["technique"]
        )
        after = {
            "support": cell["support"],
            "note": cell["note"],
            "sources": seed["cookbook_sources"] + cell["sources"],
        }
        old = seedlib.replace_current(
            conn,
            seedlib.cell_version_t,
            {"scenario_id": scenario_key, "technique_id": technique_key},
            REVISION,
            after,
        )
        if old["support"] != cell["before"]:
            raise RuntimeError(f"seed expects {cell} to change from {cell['before']}")
        diff.append(
            {
                "op": "update",
                "kind": "cell",
                "id": f"{cell['scenario']}/{cell['technique']}",
                "before": {k: old[k] for k in after},
                "after": after,
            }
        )
    for change in seed["techniques"]:
        key = seedlib.current_key(conn, seedlib.technique_version_t, "technique_id", change["id"])
        old = seedlib.replace_current(
            conn,
            seedlib.technique_version_t,
            {"technique_id": key},
            REVISION,
            {change["field"]: change["after"]},
        )
        if old[change["field"]] != change["before"]:
            raise RuntimeError(f"seed expects {change} to change from {change['before']}")
        diff.append(
            {
                "op": "update",
                "kind": "technique",
                "id": change["id"],
                "before": {change["field"]: change["before"]},
                "after": {change["field"]: change["after"]},
            }
        )
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_revision(op.get_bind(), REVISION)
