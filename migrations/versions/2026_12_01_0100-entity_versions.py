"""Models, hardware, platforms and offerings: one versioned table for the four kinds.

Each row holds one entity's fields as JSON (`data`), valid from the revision that wrote it up
to, not including, the one that replaced or retired it, as cells and pairs are. At most one
current row per (kind, slug).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 01:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entity_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('model', 'hardware', 'platform', 'offering')",
            name=op.f("ck_entity_version_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["revision.number"],
            name=op.f("fk_entity_version_valid_from_revision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["revision.number"],
            name=op.f("fk_entity_version_valid_to_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_version")),
    )
    with op.batch_alter_table("entity_version", schema=None) as batch_op:
        batch_op.create_index(
            "uq_entity_version_current",
            ["kind", "slug"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_entity_version_valid_from"), ["valid_from"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_entity_version_valid_to"), ["valid_to"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entity_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entity_version_valid_to"))
        batch_op.drop_index(batch_op.f("ix_entity_version_valid_from"))
        batch_op.drop_index("uq_entity_version_current")
    op.drop_table("entity_version")
