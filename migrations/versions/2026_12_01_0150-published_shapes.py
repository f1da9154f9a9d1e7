"""Model shapes and GPU memory from their published sources (issue 12's open items).

Corrects the models' architecture shapes where the makers' own configurations were found
(Meta's llama-models files, Microsoft's and Mistral AI's config.json files), marks third-party
copies low, adds the base models the corpus names (Llama 2 7B/13B, Llama 3.1 8B, Llama 3.2 1B,
Mistral 7B v0.1, Qwen2.5 7B/72B, Gemma 3 1B/12B/27B, the last four without a shape and saying
why), gives the A10, V100 32GB and RTX 4090 their memory, and states every GPU's memory_bytes
basis (vendor decimal GB, exact capacity unverified: no source read settles GB against GiB).

Data: migrations/seed/published-shapes-2026-12.json, generated from the data at revision 7;
each change lists the values it replaces, checked before it is applied, and its sources. The
revision's number is the next free one where this migration runs (it may be re-chained after
another data migration); downgrade finds it by its reason and undoes exactly it.

Revision ID: 0015
Revises: 0014 (the brief named 0013; 0014, a schema-only migration, appeared meanwhile)
Create Date: 2026-12-01 01:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

from migrations import seedlib

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED = "published-shapes-2026-12.json"
CREATED_AT = datetime(2026, 12, 1, 0, 3, tzinfo=UTC)


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json(SEED)
    number = seedlib.next_revision(conn)
    seedlib.insert_revision(conn, number, seed["reason"], CREATED_AT, diff=[])
    diff = seedlib.apply_entity_changes(conn, number, seed["changes"])
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == number).values(diff=diff)
    )


def downgrade() -> None:
    conn = op.get_bind()
    number = seedlib.revision_with_reason(conn, seedlib.load_json(SEED)["reason"])
    seedlib.undo_entity_revision(conn, number)
