"""Revision 7: the corrections of shared/reference/errata-2026-12.md, each with its source.

Eleven shipped facts that primary sources contradict or do not support, corrected in place of
the applied migrations that wrote them: techniques' libraries, facts, sources and a paper
venue, pairs' caveats and sources, scenarios' and cells' sources (the seed page's real path,
microsoft/PhiCookBook md/03.FineTuning at c6551878) and the cells' notes (the unverified 2024
date and the unverifiable PR #489 attribution dropped). Data: migrations/seed/
errata-2026-12.json, generated from the data at revision 6; each change names the errata items
it applies, and each value it replaces is checked first, so the migration refuses to run on
data it was not written for. Revision 1's reason is history and stays as written.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 01:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from migrations import seedlib

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 7
CREATED_AT = datetime(2026, 12, 1, 0, 2, tzinfo=UTC)


def _technique_key(conn: sa.Connection, slug: str) -> int:
    return seedlib.current_key(conn, seedlib.technique_version_t, "technique_id", slug)


def _located(conn: sa.Connection, kind: str, ident: str) -> tuple[Any, dict[str, int]]:
    """The frozen table and the key columns of the current row that `kind`/`ident` names."""
    if kind == "technique":
        return seedlib.technique_version_t, {"technique_id": _technique_key(conn, ident)}
    if kind == "scenario":
        key = seedlib.current_key(conn, seedlib.scenario_version_t, "scenario_id", ident)
        return seedlib.scenario_version_t, {"scenario_id": key}
    if kind == "pair":
        low, high = sorted(_technique_key(conn, slug) for slug in ident.split("+"))
        # The requirements column exists from migration 0008 on; copying rows without it
        # would drop the pairs' requirements.
        return seedlib.pair_version_requirements_t, {"low_id": low, "high_id": high}
    if kind == "cell":
        scenario, _, technique = ident.partition("/")
        key = seedlib.current_key(conn, seedlib.scenario_version_t, "scenario_id", scenario)
        match = {"scenario_id": key, "technique_id": _technique_key(conn, technique)}
        return seedlib.cell_version_t, match
    raise RuntimeError(f"errata seed names an unknown kind {kind!r}")


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json("errata-2026-12.json")
    seedlib.insert_revision(conn, REVISION, seed["reason"], CREATED_AT, diff=[])
    diff: list[dict[str, Any]] = []
    for change in seed["changes"]:
        kind, ident, before, after = change["kind"], change["id"], change["before"], change["after"]
        table, match = _located(conn, kind, ident)
        old = seedlib.replace_current(conn, table, match, REVISION, after)
        for field, expected in before.items():
            if old[field] != expected:
                raise RuntimeError(f"errata expects {kind} {ident} {field} to be {expected!r}")
        diff.append({"op": "update", "kind": kind, "id": ident, "before": before, "after": after})
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_revision(op.get_bind(), REVISION, pairs=True)
