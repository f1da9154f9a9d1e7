"""Revision 3: ZeRO's stages and variants, FSDP, and every sourced technique pair.

Techniques and pairs come from migrations/seed/compat.json, compiled from the sourced fact
sheet: each pair carries its verdict, note, caveats, required settings, the library versions it
needs, sources and confidence. Pairs with no known fact are not stored (they read as unknown).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import op

from migrations import seedlib

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 3
REASON = "ZeRO stages, FSDP and technique pairs from the sourced fact sheet"
CREATED_AT = datetime(2026, 11, 28, 0, 2, tzinfo=UTC)
PAIR_FIELDS = (
    "verdict", "note", "caveats", "settings", "versions", "recommended_versions", "since",
    "confidence", "sources",
)  # fmt: skip


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json("compat.json")
    seedlib.insert_revision(conn, REVISION, REASON, CREATED_AT, diff=[])
    diff: list[dict[str, Any]] = []
    keys: dict[str, int] = {}

    def key_of(slug: str) -> int:
        if slug not in keys:
            keys[slug] = seedlib.current_key(
                conn, seedlib.technique_version_t, "technique_id", slug
            )
        return keys[slug]

    for data in seed["techniques"]:
        keys[data["id"]] = seedlib.create_entity(conn, seedlib.technique_t, REVISION)
    for data in seed["techniques"]:
        parent = key_of(data["parent"]) if data["parent"] else None
        diff.append(
            seedlib.insert_technique(
                conn, REVISION, keys[data["id"]], data["id"], data["name"], data, parent
            )
        )

    for pair in seed["pairs"]:
        a, b = key_of(pair["a"]), key_of(pair["b"])
        fields = {name: pair[name] for name in PAIR_FIELDS}
        seedlib.insert_version(
            conn,
            seedlib.pair_version_t,
            fields | {"low_id": min(a, b), "high_id": max(a, b), "valid_from": REVISION},
        )
        diff.append({"op": "create", "kind": "pair", "id": f"{pair['a']}+{pair['b']}",
                     "before": None, "after": fields})  # fmt: skip
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_revision(op.get_bind(), REVISION, pairs=True)
