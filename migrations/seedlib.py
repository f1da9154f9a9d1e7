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


pair_version_requirements_t = sa.table(
    "pair_version",
    *(
        sa.column(name, sa.JSON if name in (*JSON_PAIR_FIELDS, "requirements") else None)
        for name in (
            "low_id", "high_id", "valid_from", "valid_to", "verdict", "note", "caveats",
            "settings", "versions", "recommended_versions", "since", "confidence", "sources",
            "requirements",
        )
    ),
)  # fmt: skip
"""pair_version from migration 0008 on, with its `requirements` column."""


entity_version_t = sa.table(
    "entity_version",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("slug", sa.String),
    sa.column("data", sa.JSON),
    sa.column("valid_from", sa.Integer),
    sa.column("valid_to", sa.Integer),
)
"""Models, hardware, platforms and offerings (migration 0010 on): one JSON row per version."""


def put_entity(
    conn: sa.Connection, revision: int, kind: str, slug: str, data: dict[str, Any]
) -> dict[str, Any] | None:
    """Write the current version of entity (kind, slug); return its diff entry, or None when
    the data is unchanged.

    An existing current row is closed and the diff lists only the fields that changed, before
    and after, as admin writes record them.
    """
    t = entity_version_t
    where = (t.c.kind == kind, t.c.slug == slug, t.c.valid_to.is_(None))
    old = conn.execute(sa.select(t.c.data).where(*where)).scalar_one_or_none()
    if isinstance(old, str):  # a JSON column read through a frozen table may come back as text
        old = json.loads(old)
    if old == data:
        return None
    if old is not None:
        conn.execute(t.update().where(*where).values(valid_to=revision))
    conn.execute(
        t.insert().values(kind=kind, slug=slug, data=data, valid_from=revision, valid_to=None)
    )
    if old is None:
        return {"op": "create", "kind": kind, "id": slug, "before": None, "after": data}
    keys = [k for k in {**old, **data} if old.get(k) != data.get(k)]
    return {
        "op": "update",
        "kind": kind,
        "id": slug,
        "before": {k: old.get(k) for k in keys},
        "after": {k: data.get(k) for k in keys},
    }


def undo_entity_revision(conn: sa.Connection, number: int) -> None:
    """Remove the entity rows revision `number` wrote, reopen those it closed, drop the
    revision (downgrades of the data migrations that write only entities)."""
    t = entity_version_t
    conn.execute(t.delete().where(t.c.valid_from == number))
    conn.execute(t.update().where(t.c.valid_to == number).values(valid_to=None))
    conn.execute(revision_t.delete().where(revision_t.c.number == number))


def write_entity_revision(
    conn: sa.Connection,
    number: int,
    reason: str,
    created_at: datetime,
    entities: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Revision `number` writing every entity of a seed file (`{"kind", "id", "data"}` each,
    in order); returns and stores its diff."""
    insert_revision(conn, number, reason, created_at, diff=[])
    diff = [
        entry
        for item in entities
        if (entry := put_entity(conn, number, item["kind"], item["id"], item["data"]))
    ]
    conn.execute(revision_t.update().where(revision_t.c.number == number).values(diff=diff))
    return diff


def retire_entity(conn: sa.Connection, revision: int, kind: str, slug: str) -> dict[str, Any]:
    """Close the current version of entity (kind, slug); return its `retire` diff entry, whose
    `before` is the retired data."""
    t = entity_version_t
    where = (t.c.kind == kind, t.c.slug == slug, t.c.valid_to.is_(None))
    old = conn.execute(sa.select(t.c.data).where(*where)).scalar_one()
    if isinstance(old, str):
        old = json.loads(old)
    conn.execute(t.update().where(*where).values(valid_to=revision))
    return {"op": "retire", "kind": kind, "id": slug, "before": old, "after": None}


def next_revision(conn: sa.Connection) -> int:
    """The number the next revision takes: one past the newest (1 on an empty table).

    For data migrations that may be re-chained: their number follows from where they run, not
    from a constant that another migration could also have taken.
    """
    newest = conn.execute(sa.select(sa.func.max(revision_t.c.number))).scalar_one_or_none()
    return int(newest or 0) + 1


def revision_with_reason(conn: sa.Connection, reason: str) -> int:
    """The number of the one revision whose reason is `reason` (how a re-chainable data
    migration finds its own revision to undo); RuntimeError when there is not exactly one."""
    numbers = (
        conn.execute(sa.select(revision_t.c.number).where(revision_t.c.reason == reason))
        .scalars()
        .all()
    )
    if len(numbers) != 1:
        raise RuntimeError(f"expected one revision with this reason, found {len(numbers)}")
    return int(numbers[0])


def current_entity(conn: sa.Connection, kind: str, slug: str) -> dict[str, Any] | None:
    """The data of the current version of entity (kind, slug), or None when there is none."""
    t = entity_version_t
    where = (t.c.kind == kind, t.c.slug == slug, t.c.valid_to.is_(None))
    data = conn.execute(sa.select(t.c.data).where(*where)).scalar_one_or_none()
    if isinstance(data, str):  # a JSON column read through a frozen table may come back as text
        data = json.loads(data)
    return None if data is None else dict(data)


def apply_entity_changes(
    conn: sa.Connection, revision: int, changes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Write revision `revision`'s entity changes (`{"kind", "id", "before", "after"}` each, in
    order) and return their diff entries.

    `before` None creates the entity, which must not exist yet, with `after` as its data.
    Otherwise every field in `before` must hold exactly that value in the current version, and
    the fields of `after` replace theirs (the others are kept). A mismatch raises RuntimeError
    naming the entity and field, so a migration refuses data it was not written for.
    """
    diff: list[dict[str, Any]] = []
    for change in changes:
        kind, slug, before = change["kind"], change["id"], change["before"]
        old = current_entity(conn, kind, slug)
        if before is None:
            if old is not None:
                raise RuntimeError(f"{kind} {slug} already exists; this change creates it")
            data = dict(change["after"])
        else:
            if old is None:
                raise RuntimeError(f"{kind} {slug} does not exist; this change updates it")
            for field, expected in before.items():
                if old.get(field) != expected:
                    raise RuntimeError(f"expected {kind} {slug} {field} to be {expected!r}")
            data = old | change["after"]
        entry = put_entity(conn, revision, kind, slug, data)
        if entry is None:
            raise RuntimeError(f"{kind} {slug}: the change leaves its data as it was")
        diff.append(entry)
    return diff
