"""Helpers for data migrations: write revisions and version rows with frozen table definitions.

Data migrations must keep working after the models change, so they use these lightweight table
definitions (only the columns a seed writes) instead of importing `service.models`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SEED_DIR = Path(__file__).resolve().parent / "seed"

revision_t = sa.table(
    "revision",
    sa.column("number", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("author", sa.String),
    sa.column("reason", sa.String),
    sa.column("diff", sa.JSON),
)
technique_t = sa.table(
    "technique", sa.column("id", sa.Integer), sa.column("created_in", sa.Integer)
)
scenario_t = sa.table("scenario", sa.column("id", sa.Integer), sa.column("created_in", sa.Integer))
technique_version_t = sa.table(
    "technique_version",
    *(
        sa.column(
            name, sa.JSON if name in ("aliases", "paper", "facts", "libraries", "sources") else None
        )
        for name in (
            "technique_id",
            "valid_from",
            "valid_to",
            "slug",
            "name",
            "full_name",
            "category",
            "summary",
            "aliases",
            "paper",
            "facts",
            "libraries",
            "parent_id",
            "sources",
        )
    ),
)
scenario_version_t = sa.table(
    "scenario_version",
    *(
        sa.column(name, sa.JSON if name in ("aliases", "sources") else None)
        for name in (
            "scenario_id",
            "valid_from",
            "valid_to",
            "slug",
            "title",
            "kind",
            "description",
            "aliases",
            "sources",
        )
    ),
)
cell_version_t = sa.table(
    "cell_version",
    sa.column("id", sa.Integer),
    sa.column("scenario_id", sa.Integer),
    sa.column("technique_id", sa.Integer),
    sa.column("valid_from", sa.Integer),
    sa.column("valid_to", sa.Integer),
    sa.column("support", sa.String),
    sa.column("note", sa.String),
    sa.column("sources", sa.JSON),
)

SEED_AUTHOR = "ftmatrix seed"
JSON_PAIR_FIELDS = ("caveats", "settings", "versions", "recommended_versions", "sources")


def load_json(name: str) -> Any:
    """A seed file from migrations/seed/."""
    return json.loads((SEED_DIR / name).read_text(encoding="utf-8"))


def insert_revision(
    conn: sa.Connection, number: int, reason: str, created_at: datetime, diff: list[dict[str, Any]]
) -> None:
    conn.execute(
        revision_t.insert().values(
            number=number, created_at=created_at, author=SEED_AUTHOR, reason=reason, diff=diff
        )
    )


def create_entity(conn: sa.Connection, table: Any, revision: int) -> int:
    result = conn.execute(table.insert().values(created_in=revision).returning(table.c.id))
    return int(result.scalar_one())


def insert_version(conn: sa.Connection, table: Any, values: dict[str, Any]) -> None:
    conn.execute(table.insert().values(**values))


def current_key(conn: sa.Connection, table: Any, key_column: str, slug: str) -> int:
    row = conn.execute(
        sa.select(table.c[key_column]).where(table.c.slug == slug, table.c.valid_to.is_(None))
    ).scalar_one()
    return int(row)


def replace_current(
    conn: sa.Connection, table: Any, match: dict[str, Any], revision: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Close the current version row matching `match` and insert a copy with `changes` applied.

    Returns the closed row's values, so the caller can record the diff.
    """
    where = [table.c[k] == v for k, v in match.items()] + [table.c.valid_to.is_(None)]
    columns = [c for c in table.c if c.name != "id"]
    old = conn.execute(sa.select(*columns).where(*where)).mappings().one()
    conn.execute(table.update().where(*where).values(valid_to=revision))
    new = dict(old) | changes | {"valid_from": revision, "valid_to": None}
    conn.execute(table.insert().values(**new))
    return dict(old)


def undo_revision(conn: sa.Connection, number: int, *, pairs: bool = False) -> None:
    """Remove everything revision `number` wrote and reopen what it closed (downgrades).

    `pairs` includes the pair_version table, which exists only from migration 0005 on.
    """
    tables = (cell_version_t, technique_version_t, scenario_version_t)
    for table in (pair_version_t, *tables) if pairs else tables:
        conn.execute(table.delete().where(table.c.valid_from == number))
        conn.execute(table.update().where(table.c.valid_to == number).values(valid_to=None))
    for table in (technique_t, scenario_t):
        conn.execute(table.delete().where(table.c.created_in == number))
    conn.execute(revision_t.delete().where(revision_t.c.number == number))


pair_version_t = sa.table(
    "pair_version",
    *(
        sa.column(name, sa.JSON if name in JSON_PAIR_FIELDS else None)
        for name in (
            "low_id", "high_id", "valid_from", "valid_to", "verdict", "note", "caveats",
            "settings", "versions", "recommended_versions", "since", "confidence", "sources",
        )
    ),
)  # fmt: skip


TECHNIQUE_FIELDS = (
    "full_name", "category", "summary", "aliases", "paper", "facts", "libraries", "sources",
)  # fmt: skip


def insert_technique(
    conn: sa.Connection,
    revision: int,
    key: int,
    slug: str,
    name: str,
    data: dict[str, Any],
    parent_key: int | None,
) -> dict[str, Any]:
    """Write a seed technique's version row; return its diff entry in the API's vocabulary.

    The diff names the parent by slug, as every write does, never by internal key.
    """
    fields = {"name": name} | {field: data[field] for field in TECHNIQUE_FIELDS}
    insert_version(
        conn,
        technique_version_t,
        fields
        | {"slug": slug, "parent_id": parent_key, "technique_id": key, "valid_from": revision},
    )
    after = fields | {"parent": data["parent"]}
    return {"op": "create", "kind": "technique", "id": slug, "before": None, "after": after}
