"""The one way data changes: a `Writer` opens a revision, applies changes and records the diff.

Every write path (single edits, bulk edits, reverts) goes through a Writer inside the request's
transaction, so the version rows, the revision and its audit entry commit together or not at all.
A write names the revision it was based on (If-Match); the revision row it inserts is the lock:
a concurrent writer based on the same revision collides on that primary key and gets 412.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service.db import current_revision, json_text
from service.errors import InvalidInput, PreconditionFailed
from service.models import (
    CellVersion,
    EntityVersion,
    PairVersion,
    Revision,
    Scenario,
    ScenarioVersion,
    Technique,
    TechniqueVersion,
    table_of,
)
from service.snapshot import CellRow, ScenarioData, Snapshot, TechniqueData
from service.wire import first_unstorable, unstorable

REVISIONS = table_of(Revision)
TECHNIQUES = table_of(Technique)
TECHNIQUE_VERSIONS = table_of(TechniqueVersion)
SCENARIOS = table_of(Scenario)
SCENARIO_VERSIONS = table_of(ScenarioVersion)
CELL_VERSIONS = table_of(CellVersion)
PAIR_VERSIONS = table_of(PairVersion)
ENTITY_VERSIONS = table_of(EntityVersion)


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes, why, and which revision they read before writing."""

    author: str
    reason: str
    based_on: int


_CELL_FIELDS = frozenset(("support", "note", "sources"))


_POSTGRES_CELL_INSERT = (
    "INSERT INTO cell_version (scenario_id, technique_id, valid_from, support, note, sources) "
    "SELECT s, t, %(valid_from)s, sup, n, src::jsonb FROM unnest("
    "%(scenario_id)b::integer[], %(technique_id)b::integer[], %(support)b::text[], "
    "%(note)b::text[], %(sources)b::text[]) AS rows (s, t, sup, n, src)"
)
"""Every new cell version row at once, each column bound as one array in PostgreSQL's binary
format (psycopg's `%(name)b`: the server reads 15,000-element arrays faster than as text)."""

_SQLITE_CELL_INSERT = (
    "INSERT INTO cell_version (scenario_id, technique_id, support, note, sources, valid_from) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
"""One new cell version row, its parameters in `CellRow`'s order (the sources as JSON text)."""


def reject_unstorable_cells(rows: Sequence[tuple[int, int, dict[str, Any] | None]]) -> None:
    """`reject_unstorable` for every cell's fields: one search over all their text when the
    fields are the cell's own (the rows are searched one by one only to name a bad one)."""
    plain = [fields for _, _, fields in rows if fields is not None]
    if all(fields.keys() <= _CELL_FIELDS for fields in plain):
        texts = [
            text
            for f in plain
            for text in (f.get("support", ""), f.get("note", ""), *f.get("sources", ()))
        ]
        if all(isinstance(text, str) for text in texts) and unstorable("\n".join(texts)) is None:
            return
    for fields in plain:
        reject_unstorable(fields, "body")


def reject_unstorable(value: Any, where: str) -> None:
    """422 for a NUL or a lone surrogate anywhere in `value` (bulk bodies and headers, which no
    `Input` schema validated): the database could not store it."""
    found = first_unstorable(value, where)
    if found is not None:
        location, reason = found
        raise InvalidInput(
            f"{location} holds text that cannot be stored: {reason}.",
            errors=[{"location": location, "message": reason}],
        )


def technique_fields(t: TechniqueData) -> dict[str, Any]:
    """A technique's editable fields as plain JSON values (the diff's vocabulary)."""
    return {
        "name": t.name,
        "full_name": t.full_name,
        "category": t.category,
        "summary": t.summary,
        "aliases": list(t.aliases),
        "paper": dict(t.paper) if t.paper else None,
        "facts": [dict(f) for f in t.facts],
        "libraries": [dict(lib) for lib in t.libraries],
        "parent": t.parent,
        "sources": list(t.sources),
    }


def scenario_fields(sc: ScenarioData) -> dict[str, Any]:
    return {
        "title": sc.title,
        "kind": sc.kind,
        "description": sc.description,
        "aliases": list(sc.aliases),
        "sources": list(sc.sources),
    }


class Writer:
    """Applies changes to the data on top of `snap` as one new revision.

    Call `open()` first; `finish()` stores the diff (or removes the revision if nothing changed).
    """

    def __init__(self, session: Session, snap: Snapshot, ctx: WriteContext) -> None:
        self.session = session
        self.snap = snap
        self.ctx = ctx
        self.number = snap.revision + 1
        self.changes: list[dict[str, Any]] = []
        self.technique_keys = {t.id: t.key for t in snap.techniques.values()}
        self.scenario_keys = {sc.id: sc.key for sc in snap.scenarios.values()}
        self.cell_rows: list[CellRow] = []
        """The cells `put_cells` changed, as rows the snapshot's patch takes: each version row
        written, and for a cell removed a closed row standing for the one closed (the row a
        new version replaces is left out: the new one decides). Patched with them, the
        previous revision's cells become this one's, as the rows read back would make them."""

    @property
    def cells_only(self) -> bool:
        """Whether this revision changed cells alone (then `cell_rows` is all it changed): its
        diff, the record of everything a revision changes that a revert undoes, names nothing
        but cells. A retirement's closed cells come with the retired technique or scenario."""
        return all(change["kind"] == "cell" for change in self.changes)

    @property
    def conn(self) -> sa.Connection:
        return self.session.connection()

    def open(self) -> None:
        """Check the client's revision is current and claim the next number (412 otherwise)."""
        reject_unstorable(self.ctx.reason, "header.x-change-reason")
        current = current_revision(self.conn)
        if self.ctx.based_on != current or self.snap.revision != current:
            raise stale(self.ctx.based_on, current)
        try:
            with self.session.begin_nested():
                self.conn.execute(
                    REVISIONS.insert().values(
                        number=self.number,
                        created_at=datetime.now(UTC),
                        author=self.ctx.author,
                        reason=self.ctx.reason,
                        diff=[],
                    )
                )
        except IntegrityError:
            # Another writer based on the same revision committed first.
            raise stale(self.ctx.based_on, current_revision(self.conn)) from None

    def finish(self) -> int | None:
        """Store the diff; returns the new revision number, or None when nothing changed."""
        if not self.changes:
            self.conn.execute(REVISIONS.delete().where(REVISIONS.c.number == self.number))
            return None
        self.conn.execute(
            REVISIONS.update().where(REVISIONS.c.number == self.number).values(diff=self.changes)
        )
        return self.number

    def record(
        self,
        op: str,
        kind: str,
        ident: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        self.changes.append({"op": op, "kind": kind, "id": ident, "before": before, "after": after})

    # -- version rows -------------------------------------------------------------------

    def _close(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        result = self.conn.execute(
            table.update().where(*where, table.c.valid_to.is_(None)).values(valid_to=self.number)
        )
        return int(result.rowcount)

    def new_entity(self, table: sa.Table) -> int:
        result = self.conn.execute(
            table.insert().values(created_in=self.number).returning(table.c.id)
        )
        return int(result.scalar_one())

    def put_technique(self, key: int, slug: str, fields: dict[str, Any], *, replace: bool) -> None:
        """Write the version row of technique `key` (closing the current one when `replace`)."""
        reject_unstorable(fields, "body")
        if replace:
            self._close(TECHNIQUE_VERSIONS, TECHNIQUE_VERSIONS.c.technique_id == key)
        parent = fields["parent"]
        values = {k: v for k, v in fields.items() if k != "parent"}
        self.conn.execute(
            TECHNIQUE_VERSIONS.insert().values(
                technique_id=key,
                slug=slug,
                valid_from=self.number,
                parent_id=self.technique_keys[parent] if parent else None,
                **values,
            )
        )
        self.technique_keys[slug] = key

    def retire_technique_rows(self, key: int) -> None:
        self._close(TECHNIQUE_VERSIONS, TECHNIQUE_VERSIONS.c.technique_id == key)
        self._close(CELL_VERSIONS, CELL_VERSIONS.c.technique_id == key)
        self._close(
            PAIR_VERSIONS,
            sa.or_(PAIR_VERSIONS.c.low_id == key, PAIR_VERSIONS.c.high_id == key),
        )

    def put_scenario(self, key: int, slug: str, fields: dict[str, Any], *, replace: bool) -> None:
        reject_unstorable(fields, "body")
        if replace:
            self._close(SCENARIO_VERSIONS, SCENARIO_VERSIONS.c.scenario_id == key)
        self.conn.execute(
            SCENARIO_VERSIONS.insert().values(
                scenario_id=key, slug=slug, valid_from=self.number, **fields
            )
        )
        self.scenario_keys[slug] = key

    def retire_scenario_rows(self, key: int) -> None:
        self._close(SCENARIO_VERSIONS, SCENARIO_VERSIONS.c.scenario_id == key)
        self._close(CELL_VERSIONS, CELL_VERSIONS.c.scenario_id == key)

    def put_cells(
        self,
        rows: Sequence[tuple[int, int, dict[str, Any] | None]],
        absent: Collection[tuple[int, int]] = (),
    ) -> None:
        """Replace many cells' content (None removes a cell) in two batched statements.

        `absent` names cells (scenario key, technique key) known to have no current version
        (read in this transaction): there is nothing of theirs to close. The rows closed and
        written are added to `cell_rows`.
        """
        if not rows:
            return
        reject_unstorable_cells(rows)
        closing = [{"s_key": s, "t_key": t} for s, t, _ in rows if (s, t) not in absent]
        if closing:
            self.conn.execute(
                CELL_VERSIONS.update()
                .where(
                    CELL_VERSIONS.c.scenario_id == sa.bindparam("s_key"),
                    CELL_VERSIONS.c.technique_id == sa.bindparam("t_key"),
                    CELL_VERSIONS.c.valid_to.is_(None),
                )
                .values(valid_to=self.number),
                closing,
            )
        number = self.number
        closed = [(s, t, None, None, None, 0, number) for s, t, fields in rows if fields is None]
        opened = [
            (s, t, f["support"], f["note"], json_text(f["sources"]), number, None)
            for s, t, f in rows
            if f is not None
        ]
        if opened:
            self._insert_cells(opened)
        self.cell_rows += closed
        self.cell_rows += opened

    def _insert_cells(self, rows: Sequence[CellRow]) -> None:
        """The new version rows (as `cell_rows` holds them), in one statement or one
        executemany of it: a bulk edit writes tens of thousands, and binding each through
        SQLAlchemy's parameter processing costs as much as the database's own work. PostgreSQL
        takes every row at once as arrays (`unnest`); a driver executemany would send one
        statement a row. SQLite (the only other database the service runs on) runs one
        executemany of a plain INSERT."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                _POSTGRES_CELL_INSERT,
                {
                    "valid_from": self.number,
                    "scenario_id": [row[0] for row in rows],
                    "technique_id": [row[1] for row in rows],
                    "support": [row[2] for row in rows],
                    "note": [row[3] for row in rows],
                    "sources": [row[4] for row in rows],
                },
            )
            return
        self.conn.exec_driver_sql(_SQLITE_CELL_INSERT, [row[:6] for row in rows])

    def put_pair(self, key_a: int, key_b: int, fields: dict[str, Any] | None) -> None:
        """Replace the fact about a pair; None removes it (the pair reads as unknown again)."""
        reject_unstorable(fields, "body")
        low, high = min(key_a, key_b), max(key_a, key_b)
        self._close(PAIR_VERSIONS, PAIR_VERSIONS.c.low_id == low, PAIR_VERSIONS.c.high_id == high)
        if fields is not None:
            self.conn.execute(
                PAIR_VERSIONS.insert().values(
                    low_id=low, high_id=high, valid_from=self.number, **fields
                )
            )

    def put_entity(self, kind: str, slug: str, data: dict[str, Any], *, replace: bool) -> None:
        """Write the version row of model, hardware, platform or offering `slug` (closing the
        current one when `replace`); `data` is its stored JSON, without `id`."""
        reject_unstorable(data, "body")
        if replace:
            self.retire_entity(kind, slug)
        self.conn.execute(
            ENTITY_VERSIONS.insert().values(
                kind=kind, slug=slug, data=data, valid_from=self.number, valid_to=None
            )
        )

    def retire_entity(self, kind: str, slug: str) -> None:
        """Close the current version of entity (kind, slug); its slug stays taken."""
        self._close(ENTITY_VERSIONS, ENTITY_VERSIONS.c.kind == kind, ENTITY_VERSIONS.c.slug == slug)

    def entity_slug_ever_used(self, kind: str, slug: str) -> bool:
        """True when any version of `kind`, current or retired, ever had this slug."""
        found = self.conn.execute(
            sa.select(ENTITY_VERSIONS.c.id)
            .where(ENTITY_VERSIONS.c.kind == kind, ENTITY_VERSIONS.c.slug == slug)
            .limit(1)
        )
        return found.first() is not None

    def slug_ever_used(self, table: sa.Table, slug: str) -> bool:
        """True when any version, current or retired, ever carried this slug."""
        found = self.conn.execute(sa.select(table.c.id).where(table.c.slug == slug).limit(1))
        return found.first() is not None

    def retired_key(
        self, table: sa.Table, key_column: str, slug: str, closed_in: int
    ) -> int | None:
        """The entity whose version with `slug` was closed by revision `closed_in` (for reverts)."""
        row = self.conn.execute(
            sa.select(table.c[key_column]).where(
                table.c.slug == slug, table.c.valid_to == closed_in
            )
        ).first()
        return int(row[0]) if row else None


def stale(based_on: int, current: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"You read revision {based_on}, but the data is now at revision {current}; "
        "read it again and retry.",
        current_revision=current,
        current_etag=f'"rev-{current}"',
    )
