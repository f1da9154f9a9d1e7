"""Index cell versions by (scenario, technique, valid_to): a cell as of any revision in one seek.

The single-column index on scenario_id made a cell look-up scan every version of its scenario's
row (500 rows in a 500-technique catalog). The composite index serves a row (its prefix) and a
single cell alike, so it replaces the old one rather than adding a second. It ends in valid_to,
as the technique index does, so that SQLite's planner (which has no statistics: the service never
runs ANALYZE) ranks it above the technique index for a read of some rows' cells in some columns:
with (scenario_id, technique_id) alone it scanned the whole columns for every chunk of rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 04:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cell_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cell_version_scenario_technique",
            ["scenario_id", "technique_id", "valid_to"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_cell_version_scenario_id"))


def downgrade() -> None:
    with op.batch_alter_table("cell_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cell_version_scenario_id"), ["scenario_id"], unique=False
        )
        batch_op.drop_index("ix_cell_version_scenario_technique")
