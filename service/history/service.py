"""Reads of the revision history."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

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
