"""Revision 5: the seed page's second half as written, marked as the page's claims.

Platforms as the page names them (Azure AI Foundry, Azure Machine Learning, AI Tools, Kaito,
ONNX Runtime), CPU and FPGA as infrastructure it calls essential, the tools line ("ONNX Runtime
and ONNX Runtime"), the Model as Service sentences (Phi-3-mini, Phi-3-medium, Phi-3-small) and
the Model as a Platform sample. Every statement has status `claimed` and the page as its source;
nothing is judged here (revision 6 does that). Data: migrations/seed/offerings-seed-page.json.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 01:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

from migrations import seedlib

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 5
CREATED_AT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def upgrade() -> None:
    seed = seedlib.load_json("offerings-seed-page.json")
    seedlib.write_entity_revision(
        op.get_bind(), REVISION, seed["reason"], CREATED_AT, seed["entities"]
    )


def downgrade() -> None:
    seedlib.undo_entity_revision(op.get_bind(), REVISION)
