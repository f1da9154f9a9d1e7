"""Wire schemas of the history: revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from service.wire import Output


class RevisionSummary(Output):
    number: int
    created_at: datetime
    author: str = Field(description="Name of the API key that wrote it (or the seed).")
    reason: str
    changes: int = Field(description="How many cells and fields it touched.")


class RevisionList(Output):
    revision: int = Field(description="The newest revision.")
    total: int
    limit: int
    offset: int
    items: list[RevisionSummary] = Field(description="Newest first.")


class Change(Output):
    """One thing a revision changed: a created, updated or retired entity (a technique,
    scenario, cell, pair, model, hardware, platform or offering)."""

    op: str = Field(description="`create`, `update` or `retire`.")
    kind: str = Field(
        description="`technique`, `scenario`, `cell`, `pair`, `model`, `hardware`, `platform` "
        "or `offering`."
    )
    id: str = Field(description="Its id; `scenario/technique` for a cell.")
    before: dict[str, Any] | None = Field(description="Changed fields before (null if created).")
    after: dict[str, Any] | None = Field(description="Changed fields after (null if retired).")


class RevisionDetail(Output):
    """A revision with its full diff."""

    revision: int = Field(description="The newest revision when this was read.")
    number: int
    created_at: datetime
    author: str
    reason: str
    changes: list[Change]


class ChangeFeed(Output):
    """Revisions after `since`, oldest first: poll with `since=next_since` to stay in sync."""

    revision: int = Field(description="The newest revision.")
    since: int
    next_since: int = Field(description="Pass as `since` on the next poll.")
    has_more: bool = Field(description="True when more revisions wait beyond this page.")
    items: list[RevisionDetail]


class AuditRead(Output):
    id: int
    created_at: datetime
    key_name: str | None = Field(description="The key's name; null when no valid key was sent.")
    action: str = Field(description="The operation, e.g. `set_cell`.")
    target: str = Field(description="The request path.")
    outcome: str = Field(description="`ok`, `dry_run`, `refused` (4xx) or `error` (5xx).")
    status: int
    revision: int | None = Field(description="The revision the write created, if any.")
    request_id: str
    client: str | None
    detail: str


class AuditList(Output):
    total: int
    limit: int
    offset: int
    items: list[AuditRead] = Field(description="Newest first.")
