"""Model shapes from the makers' own code and config copies (issue 12, published shapes part 2).

The catalog's shape gains `head_dim` and `qkv_bias`, so Gemma 3 1B/12B/27B get shapes from
Google's own code (google-deepmind/gemma, google/gemma_pytorch), medium; Phi-3-mini 4k/128k
move to Microsoft's copies of their config.json (dotnet/machinelearning), medium, which agree
with the third-party copies they replace; Phi-4-mini gets Microsoft's onnxruntime-genai copy of
its config.json, medium; Phi-3.5-mini a third-party config copy, low; Qwen2.5-72B the layers,
heads, tying, context and total of Qwen's blog with its other sizes from third-party sources,
low. Phi-3.5-MoE, Phi-4-multimodal and Phi-3-small 8k's vocabulary stay empty, each note saying
which sources disagree or why a value is not taken.

Data: migrations/seed/first-party-shapes-2026-12.json, generated from the data at revision 8;
each change lists the values it replaces, checked before it is applied, and its sources. As in
0015, the revision's number is the next free one where this migration runs, and downgrade finds
it by its reason and undoes exactly it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 02:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

from migrations import seedlib

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED = "first-party-shapes-2026-12.json"
CREATED_AT = datetime(2026, 12, 1, 0, 4, tzinfo=UTC)


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
