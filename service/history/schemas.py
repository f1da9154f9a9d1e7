"""Wire schemas of the history: revisions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class RevisionSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    created_at: datetime
    author: str = Field(description="Name of the API key that wrote it (or the seed).")
    reason: str
    changes: int = Field(description="How many cells and fields it touched.")


class RevisionList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    revision: int = Field(description="The newest revision.")
    total: int
    limit: int
    offset: int
    items: list[RevisionSummary] = Field(description="Newest first.")
