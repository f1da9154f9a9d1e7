"""Initial schema: revisions, and versioned techniques, scenarios and matrix cells.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 01:53:27.040934+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revision",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column(
            "diff",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_revision")),
    )
    op.create_table(
        "scenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_in", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_in"],
            ["revision.number"],
            name=op.f("fk_scenario_created_in_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario")),
    )
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scenario_created_in"), ["created_in"], unique=False)

    op.create_table(
        "technique",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_in", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_in"],
            ["revision.number"],
            name=op.f("fk_technique_created_in_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technique")),
    )
    with op.batch_alter_table("technique", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_technique_created_in"), ["created_in"], unique=False)

    op.create_table(
        "cell_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("technique_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("support", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=False),
        sa.Column(
            "sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "support IN ('yes', 'no', 'partial', 'unknown')", name=op.f("ck_cell_version_support")
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenario.id"],
            name=op.f("fk_cell_version_scenario_id_scenario"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["technique_id"],
            ["technique.id"],
            name=op.f("fk_cell_version_technique_id_technique"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["revision.number"],
            name=op.f("fk_cell_version_valid_from_revision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["revision.number"],
            name=op.f("fk_cell_version_valid_to_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_version")),
    )
    with op.batch_alter_table("cell_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cell_version_scenario_id"), ["scenario_id"], unique=False
        )
        batch_op.create_index(
            "ix_cell_version_technique_current", ["technique_id", "valid_to"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cell_version_valid_from"), ["valid_from"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cell_version_valid_to"), ["valid_to"], unique=False)
        batch_op.create_index(
            "uq_cell_version_current",
            ["scenario_id", "technique_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "scenario_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column(
            "aliases",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenario.id"],
            name=op.f("fk_scenario_version_scenario_id_scenario"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["revision.number"],
            name=op.f("fk_scenario_version_valid_from_revision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["revision.number"],
            name=op.f("fk_scenario_version_valid_to_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_version")),
    )
    with op.batch_alter_table("scenario_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scenario_version_scenario_id"), ["scenario_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_scenario_version_slug"), ["slug"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scenario_version_valid_from"), ["valid_from"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scenario_version_valid_to"), ["valid_to"], unique=False
        )
        batch_op.create_index(
            "uq_scenario_version_current_slug",
            ["slug"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "technique_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("technique_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("full_name", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.String(length=4000), nullable=False),
        sa.Column(
            "aliases",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "paper",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "facts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "libraries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["technique.id"],
            name=op.f("fk_technique_version_parent_id_technique"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["technique_id"],
            ["technique.id"],
            name=op.f("fk_technique_version_technique_id_technique"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["revision.number"],
            name=op.f("fk_technique_version_valid_from_revision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["revision.number"],
            name=op.f("fk_technique_version_valid_to_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technique_version")),
    )
    with op.batch_alter_table("technique_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_technique_version_slug"), ["slug"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_technique_version_technique_id"), ["technique_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_technique_version_valid_from"), ["valid_from"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_technique_version_valid_to"), ["valid_to"], unique=False
        )
        batch_op.create_index(
            "uq_technique_version_current_slug",
            ["slug"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("technique_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_technique_version_current_slug",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_technique_version_valid_to"))
        batch_op.drop_index(batch_op.f("ix_technique_version_valid_from"))
        batch_op.drop_index(batch_op.f("ix_technique_version_technique_id"))
        batch_op.drop_index(batch_op.f("ix_technique_version_slug"))

    op.drop_table("technique_version")
    with op.batch_alter_table("scenario_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_scenario_version_current_slug",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_scenario_version_valid_to"))
        batch_op.drop_index(batch_op.f("ix_scenario_version_valid_from"))
        batch_op.drop_index(batch_op.f("ix_scenario_version_slug"))
        batch_op.drop_index(batch_op.f("ix_scenario_version_scenario_id"))

    op.drop_table("scenario_version")
    with op.batch_alter_table("cell_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cell_version_current",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_cell_version_valid_to"))
        batch_op.drop_index(batch_op.f("ix_cell_version_valid_from"))
        batch_op.drop_index("ix_cell_version_technique_current")
        batch_op.drop_index(batch_op.f("ix_cell_version_scenario_id"))

    op.drop_table("cell_version")
    with op.batch_alter_table("technique", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_technique_created_in"))

    op.drop_table("technique")
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scenario_created_in"))

    op.drop_table("scenario")
    op.drop_table("revision")
