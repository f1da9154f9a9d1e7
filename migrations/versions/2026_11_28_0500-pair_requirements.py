"""Pair facts gain structured requirements: a JSON list beside the free-text settings.

Each entry names one canonical setting, one operator (equals, one_of, not_equals, absent) and
the text and sources behind it; rules judge a plan's detected settings against it. NULL (the
value of every row written before this migration) reads as no requirements.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pair_version", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requirements",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("pair_version", schema=None) as batch_op:
        batch_op.drop_column("requirements")
