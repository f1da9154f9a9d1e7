"""Technique pairs: what is known about combining two techniques, versioned like cells.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 02:16:18.930378+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pair_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("low_id", sa.Integer(), nullable=False),
        sa.Column("high_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=False),
        sa.Column(
            "caveats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "recommended_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("since", sa.String(length=1000), nullable=True),
        sa.Column("confidence", sa.String(length=8), nullable=False),
        sa.Column(
            "sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "confidence IN ('high', 'medium', 'low')", name=op.f("ck_pair_version_confidence")
        ),
        sa.CheckConstraint(
            "verdict IN ('compatible', 'caveats', 'incompatible', 'not_applicable', 'unknown')",
            name=op.f("ck_pair_version_verdict"),
        ),
        sa.CheckConstraint("low_id < high_id", name=op.f("ck_pair_version_ordered")),
        sa.ForeignKeyConstraint(
            ["high_id"],
            ["technique.id"],
            name=op.f("fk_pair_version_high_id_technique"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["low_id"],
            ["technique.id"],
            name=op.f("fk_pair_version_low_id_technique"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["revision.number"],
            name=op.f("fk_pair_version_valid_from_revision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["revision.number"],
            name=op.f("fk_pair_version_valid_to_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_version")),
    )
    with op.batch_alter_table("pair_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pair_version_high_id"), ["high_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pair_version_low_id"), ["low_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pair_version_valid_from"), ["valid_from"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pair_version_valid_to"), ["valid_to"], unique=False)
        batch_op.create_index(
            "uq_pair_version_current",
            ["low_id", "high_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("pair_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pair_version_current",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_pair_version_valid_to"))
        batch_op.drop_index(batch_op.f("ix_pair_version_valid_from"))
        batch_op.drop_index(batch_op.f("ix_pair_version_low_id"))
        batch_op.drop_index(batch_op.f("ix_pair_version_high_id"))

    op.drop_table("pair_version")
