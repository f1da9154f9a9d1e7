"""API key generation: one counter row that every write to `api_key` bumps, by trigger.

Each request already asks the database which revision is newest; it now reads this counter in
the same query, so a process that caches key checks learns of a key created, revoked or edited
anywhere (the admin API, the CLI, plain SQL) on its next request. The triggers bump the counter
inside the transaction that writes the key, so the two commit together. SQLite has only
row-level triggers (one per operation); PostgreSQL gets one statement-level trigger that also
covers TRUNCATE.

A later migration that rebuilds `api_key` in SQLite batch mode (copy and rename) drops these
triggers with the old table: it must create them again (tests/web/test_fastpath_auth.py fails
when a plain UPDATE of `api_key` no longer moves the counter).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 01:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1"
SQLITE_OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "api_key_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_api_key_generation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key_generation")),
    )
    op.execute("INSERT INTO api_key_generation (id, generation) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for operation in SQLITE_OPERATIONS:
            op.execute(
                f"CREATE TRIGGER api_key_generation_on_{operation} "
                f"AFTER {operation.upper()} ON api_key BEGIN {BUMP}; END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION api_key_generation_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER api_key_generation_bump "
            "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_key "
            "FOR EACH STATEMENT EXECUTE FUNCTION api_key_generation_bump()"
        )
    else:
        raise NotImplementedError(
            f"Migration 0014 knows how to write triggers for SQLite and PostgreSQL, not {dialect}."
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for operation in SQLITE_OPERATIONS:
            op.execute(f"DROP TRIGGER IF EXISTS api_key_generation_on_{operation}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS api_key_generation_bump ON api_key")
        op.execute("DROP FUNCTION IF EXISTS api_key_generation_bump()")
    op.drop_table("api_key_generation")
