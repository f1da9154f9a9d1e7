"""Every table, and only tables. The schema itself comes from the Alembic migrations.

History is kept as version rows: each `*_version` row is valid from the revision that wrote it
(`valid_from`) up to, not including, the revision that replaced or retired it (`valid_to`, NULL
while current). Reading as of revision N selects rows with valid_from <= N < valid_to. Entities
(`technique`, `scenario`) carry only a stable internal id, so a rename changes a version row and
nothing that points at the entity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

# Revision numbers, ids and offsets are 32-bit integers in the database (INTEGER on both).
MAX_INT = 2**31 - 1


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=JSONType, nullable=nullable)


def _rev_fk(nullable: bool) -> Any:
    return Field(
        default=None,
        foreign_key="revision.number",
        nullable=nullable,
        index=True,
        ondelete="RESTRICT",
    )


class Revision(SQLModel, table=True):
    """A numbered change to the data: who, when, why, and the diff it made."""

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    author: str = Field(max_length=200)
    reason: str = Field(max_length=2000)
    diff: list[dict[str, Any]] = _json()


class Technique(SQLModel, table=True):
    """A technique's identity; its data lives in `technique_version`."""

    id: int | None = Field(default=None, primary_key=True)
    created_in: int = _rev_fk(nullable=False)


class TechniqueVersion(SQLModel, table=True):
    """One technique as it was between two revisions."""

    __tablename__ = "technique_version"
    __table_args__ = (
        sa.Index(
            "uq_technique_version_current_slug",
            "slug",
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    technique_id: int = Field(foreign_key="technique.id", index=True, ondelete="RESTRICT")
    valid_from: int = _rev_fk(nullable=False)
    valid_to: int | None = _rev_fk(nullable=True)
    slug: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    full_name: str | None = Field(default=None, max_length=300)
    category: str = Field(max_length=64)
    summary: str = Field(default="", max_length=4000)
    aliases: list[str] = _json()
    paper: dict[str, Any] | None = _json(nullable=True)
    facts: list[dict[str, Any]] = _json()
    libraries: list[dict[str, Any]] = _json()
    parent_id: int | None = Field(default=None, foreign_key="technique.id", ondelete="RESTRICT")
    sources: list[str] = _json()


class Scenario(SQLModel, table=True):
    """A scenario's identity; its data lives in `scenario_version`."""

    id: int | None = Field(default=None, primary_key=True)
    created_in: int = _rev_fk(nullable=False)


class ScenarioVersion(SQLModel, table=True):
    """One scenario as it was between two revisions."""

    __tablename__ = "scenario_version"
    __table_args__ = (
        sa.Index(
            "uq_scenario_version_current_slug",
            "slug",
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="scenario.id", index=True, ondelete="RESTRICT")
    valid_from: int = _rev_fk(nullable=False)
    valid_to: int | None = _rev_fk(nullable=True)
    slug: str = Field(max_length=64, index=True)
    title: str = Field(max_length=500)
    kind: str = Field(max_length=16)
    description: str = Field(default="", max_length=4000)
    aliases: list[str] = _json()
    sources: list[str] = _json()


class CellVersion(SQLModel, table=True):
    """One matrix cell (scenario x technique) as it was between two revisions."""

    __tablename__ = "cell_version"
    __table_args__ = (
        sa.Index(
            "uq_cell_version_current",
            "scenario_id",
            "technique_id",
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        ),
        sa.Index("ix_cell_version_technique_current", "technique_id", "valid_to"),
        sa.Index("ix_cell_version_scenario_technique", "scenario_id", "technique_id", "valid_to"),
        sa.CheckConstraint("support IN ('yes', 'no', 'partial', 'unknown')", name="support"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="scenario.id", ondelete="RESTRICT")
    technique_id: int = Field(foreign_key="technique.id", ondelete="RESTRICT")
    valid_from: int = _rev_fk(nullable=False)
    valid_to: int | None = _rev_fk(nullable=True)
    support: str = Field(max_length=16)
    note: str = Field(default="", max_length=4000)
    sources: list[str] = _json()


class PairVersion(SQLModel, table=True):
    """What is known about combining two techniques, between two revisions.

    A pair is unordered: `low_id` is the smaller technique id, `high_id` the larger.
    """

    __tablename__ = "pair_version"
    __table_args__ = (
        sa.Index(
            "uq_pair_version_current",
            "low_id",
            "high_id",
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        ),
        sa.CheckConstraint(
            "verdict IN ('compatible', 'caveats', 'incompatible', 'not_applicable', 'unknown')",
            name="verdict",
        ),
        sa.CheckConstraint("confidence IN ('high', 'medium', 'low')", name="confidence"),
        sa.CheckConstraint("low_id < high_id", name="ordered"),
    )

    id: int | None = Field(default=None, primary_key=True)
    low_id: int = Field(foreign_key="technique.id", index=True, ondelete="RESTRICT")
    high_id: int = Field(foreign_key="technique.id", index=True, ondelete="RESTRICT")
    valid_from: int = _rev_fk(nullable=False)
    valid_to: int | None = _rev_fk(nullable=True)
    verdict: str = Field(max_length=16)
    note: str = Field(default="", max_length=4000)
    caveats: list[str] = _json()
    settings: list[str] = _json()
    versions: dict[str, str] = _json()
    recommended_versions: dict[str, str] = _json()
    since: str | None = Field(default=None, max_length=1000)
    confidence: str = Field(max_length=8)
    sources: list[str] = _json()
    # Structured form of `settings` (see service.compat.requirements); NULL in rows written
    # before migration 0008 added it, read as no requirements.
    requirements: list[dict[str, Any]] | None = _json(nullable=True)


class ApiKey(SQLModel, table=True):
    """An API key: its public id and name, scope, lifetime, and only a hash of its secret."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=32, unique=True, description="Public part of the key.")
    name: str = Field(max_length=100, unique=True)
    scope: str = Field(max_length=16)
    secret_hash: str = Field(max_length=128, description="SHA-256 of the whole key, hex.")
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ApiKeyGeneration(SQLModel, table=True):
    """How many times `api_key` was written: one row, bumped by database triggers on every
    insert, update and delete of a key, in the writing transaction (whoever writes, through
    `service.keys`, the CLI or plain SQL). Read with the newest revision in the one query each
    request already makes, it tells every process at once that its cached key checks are stale.
    """

    __tablename__ = "api_key_generation"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    generation: int


class AuditEntry(SQLModel, table=True):
    """One write attempt, accepted or refused: who, what, on which target, with what outcome."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    key_name: str | None = Field(default=None, max_length=100, index=True)
    action: str = Field(max_length=100, index=True)
    target: str = Field(max_length=500)
    outcome: str = Field(max_length=16, index=True)
    status: int
    revision: int | None = Field(default=None)
    request_id: str = Field(max_length=64)
    client: str | None = Field(default=None, max_length=100)
    detail: str = Field(default="", max_length=2000)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model, for typed Core queries (`table_of(Revision).c.number`)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


ENTITY_KINDS = ("model", "hardware", "platform", "offering")
"""The kinds of `entity_version` rows (see `service.offerings`)."""


class EntityVersion(SQLModel, table=True):
    """A model, hardware, platform or offering as it was between two revisions.

    These four kinds share one table: their fields differ per kind and live in `data` (JSON,
    validated by the wire schemas of `service.offerings`), while history (valid_from/valid_to),
    `at=N`, diffs and reverts work alike for all of them. The slug is the identity: an old
    name is kept as an alias in `data`, never by renaming the slug.
    """

    __tablename__ = "entity_version"
    __table_args__ = (
        sa.Index(
            "uq_entity_version_current",
            "kind",
            "slug",
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        ),
        sa.CheckConstraint("kind IN ('model', 'hardware', 'platform', 'offering')", name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    slug: str = Field(max_length=64)
    data: dict[str, Any] = _json()
    valid_from: int = _rev_fk(nullable=False)
    valid_to: int | None = _rev_fk(nullable=True)
