"""The audit log: one row per write attempt, accepted or refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from service.history import schemas as s
from service.history.service import as_utc
from service.models import AuditEntry, table_of

AUDIT = table_of(AuditEntry)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the audit log needs to know about one write request."""

    key_name: str | None
    action: str
    target: str
    status: int
    request_id: str
    client: str | None
    revision: int | None = None
    dry_run: bool = False
    detail: str = ""

    @property
    def outcome(self) -> str:
        if self.status >= 500:
            return "error"
        if self.status >= 400:
            return "refused"
        return "dry_run" if self.dry_run else "ok"


def _text(value: str, limit: int) -> str:
    # Whatever a client sent must not stop its attempt from being recorded: no NULs, bounded.
    return value.replace("\x00", "\\0")[:limit]


def record(conn: sa.Connection, attempt: Attempt) -> None:
    """Add an audit row on `conn` (inside the write's own transaction when it succeeded)."""
    conn.execute(
        AUDIT.insert().values(
            created_at=datetime.now(UTC),
            key_name=attempt.key_name,
            action=_text(attempt.action, 100),
            target=_text(attempt.target, 500),
            outcome=attempt.outcome,
            status=attempt.status,
            revision=attempt.revision,
            request_id=_text(attempt.request_id, 64),
            client=_text(attempt.client, 100) if attempt.client else None,
            detail=_text(attempt.detail, 2000),
        )
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    key: str | None = None
    action: str | None = None
    outcome: str | None = None
    status: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(conn: sa.Connection, where: AuditFilter, limit: int, offset: int) -> s.AuditList:
    """Audit rows matching `where`, newest first, one page."""
    clauses: list[sa.ColumnElement[bool]] = []
    if where.key is not None:
        clauses.append(AUDIT.c.key_name == where.key)
    if where.action is not None:
        clauses.append(AUDIT.c.action == where.action)
    if where.outcome is not None:
        clauses.append(AUDIT.c.outcome == where.outcome)
    if where.status is not None:
        clauses.append(AUDIT.c.status == where.status)
    if where.since is not None:
        clauses.append(AUDIT.c.created_at >= _aware(where.since))
    if where.until is not None:
        clauses.append(AUDIT.c.created_at < _aware(where.until))
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(AUDIT).where(*clauses)).scalar_one()
    )
    rows = conn.execute(
        sa.select(AUDIT).where(*clauses).order_by(AUDIT.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return s.AuditList(
        total=total,
        limit=limit,
        offset=offset,
        items=[
            s.AuditRead(
                id=r.id,
                created_at=as_utc(r.created_at),
                key_name=r.key_name,
                action=r.action,
                target=r.target,
                outcome=r.outcome,
                status=r.status,
                revision=r.revision,
                request_id=r.request_id,
                client=r.client,
                detail=r.detail,
            )
            for r in rows
        ],
    )


def _aware(moment: datetime) -> datetime:
    # Stored times are UTC (SQLite keeps no offset), so compare in UTC.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
