"""Reads of the revision history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from service.errors import NotFound
from service.history import schemas as s
from service.models import Revision, table_of


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_revisions(conn: sa.Connection, upto: int, limit: int, offset: int) -> s.RevisionList:
    """Revisions up to `upto`, newest first, one page, with the number of changes each made."""
    rev = table_of(Revision)
    visible = rev.c.number <= upto
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(rev).where(visible)).scalar_one()
    )
    rows = conn.execute(
        sa.select(
            rev.c.number,
            rev.c.created_at,
            rev.c.author,
            rev.c.reason,
            sa.func.json_array_length(rev.c.diff)
            if conn.dialect.name == "sqlite"
            else sa.func.jsonb_array_length(rev.c.diff),
        )
        .where(visible)
        .order_by(rev.c.number.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return s.RevisionList(
        revision=upto,
        total=total,
        limit=limit,
        offset=offset,
        items=[
            s.RevisionSummary(
                number=number,
                created_at=as_utc(created_at),
                author=author,
                reason=reason,
                changes=changes,
            )
            for number, created_at, author, reason, changes in rows
        ],
    )


def _detail(row: Any, newest: int) -> s.RevisionDetail:
    return s.RevisionDetail(
        revision=newest,
        number=row.number,
        created_at=as_utc(row.created_at),
        author=row.author,
        reason=row.reason,
        changes=[s.Change.model_validate(c) for c in row.diff],
    )


def get_revision(conn: sa.Connection, number: int, newest: int) -> s.RevisionDetail:
    """One revision with its diff; 404 naming the newest when it does not exist."""
    rev = table_of(Revision)
    row = conn.execute(sa.select(rev).where(rev.c.number == number, rev.c.number <= newest)).first()
    if row is None:
        raise NotFound(
            f"Revision {number} does not exist; the newest is {newest}.", latest_revision=newest
        )
    return _detail(row, newest)


def revision_diff(conn: sa.Connection, number: int) -> list[dict[str, Any]] | None:
    """The raw diff of revision `number`, or None when there is no such revision."""
    rev = table_of(Revision)
    diff = conn.execute(sa.select(rev.c.diff).where(rev.c.number == number)).scalar()
    return list(diff) if diff is not None else None


def changes_since(conn: sa.Connection, since: int, newest: int, limit: int) -> s.ChangeFeed:
    """Revisions after `since` up to `newest`, oldest first, at most `limit` of them."""
    rev = table_of(Revision)
    rows = conn.execute(
        sa.select(rev)
        .where(rev.c.number > since, rev.c.number <= newest)
        .order_by(rev.c.number)
        .limit(limit + 1)
    ).all()
    items = [_detail(row, newest) for row in rows[:limit]]
    return s.ChangeFeed(
        revision=newest,
        since=since,
        next_since=items[-1].number if items else max(since, 0),
        has_more=len(rows) > limit,
        items=items,
    )
