"""Revision 6: models, hardware, platforms and offerings as primary sources state them.

From migrations/seed/offerings.json, compiled from shared/reference/offerings.yaml (every claim
with sources and confidence) and, for model shapes and hardware, the configs and pages named
beside each value (secondary sources are marked low confidence; what no source gave is null).

- The seed's statements are kept and judged: confirmed, partly-confirmed, outdated,
  unconfirmable, or contradicted with the contradicting sources (FPGA for fine-tuning; Phi-3-small
  fine-tuning through Models-as-a-Service).
- Platforms take their current names; old ones (Azure AI Studio, Azure AI Foundry, Windows AI
  Studio) become aliases, with the dates of each name where known.
- Retirements carry their dates (Phi-3 and Phi-3.5 catalog models: 2025-08-30).
- The page's family names (Phi-3-mini, Phi-3-medium, Phi-3-small) are retired in favour of the
  catalog's models they stand for (seed "retire" lists which).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 01:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

from migrations import seedlib

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 6
CREATED_AT = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json("offerings.json")
    diff = seedlib.write_entity_revision(
        conn, REVISION, seed["reason"], CREATED_AT, seed["entities"]
    )
    diff += [
        seedlib.retire_entity(conn, REVISION, item["kind"], item["id"]) for item in seed["retire"]
    ]
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_entity_revision(op.get_bind(), REVISION)
