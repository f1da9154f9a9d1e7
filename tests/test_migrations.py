"""Migrations are the only source of the schema: upgrade, no drift, downgrade."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util.exc import CommandError
from fastapi.testclient import TestClient

from service import db as migrate
from tests.published import (
    CORRECTIONS,
    CORRECTIONS_REVISION,
    CURRENT,
    PAIRS_REVISION,
    REQUIREMENTS_REVISION,
    SEED,
    SEED_COPY,
    SHARED_SEED,
)


def _scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


# Rows as of revision :rev (written by it or before it, not yet replaced then): later data
# migrations may replace any row, so counts that must hold for ever are taken as of a revision.
AS_OF = "valid_from <= :rev AND (valid_to IS NULL OR valid_to > :rev)"


def test_upgrade_check_and_downgrade_on_an_empty_database(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    command.check(migrate.alembic_config(url))  # raises on drift between models and migrations
    engine = sa.create_engine(url)
    assert _scalar(engine, "SELECT max(number) FROM revision") == CURRENT
    cells = f"SELECT count(*) FROM cell_version WHERE {AS_OF}"
    assert _scalar(engine, cells, rev=SEED) == 54
    assert _scalar(engine, cells, rev=CORRECTIONS_REVISION) == 54
    written = "SELECT count(*) FROM cell_version WHERE valid_from = :rev"
    assert _scalar(engine, written, rev=CORRECTIONS_REVISION) == len(CORRECTIONS)
    assert _scalar(engine, "SELECT count(*) FROM cell_version WHERE valid_to IS NULL") == 54
    pairs = f"SELECT count(*) FROM pair_version WHERE {AS_OF}"
    assert _scalar(engine, pairs, rev=PAIRS_REVISION) == 26
    # 26 seeded facts; the requirements revision replaces 6 of them and adds 2.
    assert _scalar(engine, pairs, rev=REQUIREMENTS_REVISION) == 28
    replaced = "SELECT count(*) FROM pair_version WHERE valid_from < :rev AND valid_to = :rev"
    assert _scalar(engine, replaced, rev=REQUIREMENTS_REVISION) == 6
    with_requirements = (
        "SELECT count(*) FROM pair_version WHERE valid_from = :rev AND requirements IS NOT NULL"
    )
    assert _scalar(engine, with_requirements, rev=REQUIREMENTS_REVISION) == 8
    diff = _scalar(
        engine, "SELECT diff FROM revision WHERE number = :rev", rev=REQUIREMENTS_REVISION
    )
    changes = json.loads(diff) if isinstance(diff, str) else diff
    assert isinstance(changes, list)
    assert {c["id"]: c["op"] for c in changes}["lora+fsdp"] == "create"
    zero2 = next(c for c in changes if c["id"] == "zero-2+zero-offload")
    assert (zero2["before"]["verdict"], zero2["after"]["verdict"]) == ("caveats", "compatible")
    # Downgrading to the schema before the requirements revision runs every later migration's
    # downgrade as well, however many there are.
    migrate.downgrade(url, "0008")
    assert _scalar(engine, "SELECT max(number) FROM revision") == PAIRS_REVISION
    assert _scalar(engine, "SELECT count(*) FROM pair_version") == 26
    assert _scalar(engine, "SELECT count(*) FROM pair_version WHERE valid_to IS NULL") == 26
    assert _scalar(engine, "SELECT count(*) FROM cell_version") == 54 + len(CORRECTIONS)
    migrate.downgrade(url, "0002")
    assert _scalar(engine, "SELECT max(number) FROM revision") == SEED
    assert _scalar(engine, "SELECT count(*) FROM cell_version WHERE valid_to IS NULL") == 54
    migrate.downgrade(url, "base")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables <= {"alembic_version"}
    migrate.upgrade(url)  # and back up again: downgrades leave nothing behind
    assert _scalar(engine, "SELECT max(number) FROM revision") == CURRENT
    engine.dispose()


def test_current_is_the_newest_revision_of_the_database_under_test(
    client: TestClient, database_url: str
) -> None:
    # CURRENT comes from a throwaway SQLite file; the backend under test must agree with it.
    engine = sa.create_engine(database_url)
    try:
        assert _scalar(engine, "SELECT max(number) FROM revision") == CURRENT
    finally:
        engine.dispose()
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
    # The named revisions are the ones the migrations wrote for them.
    reasons = {
        r["number"]: r["reason"]
        for r in client.get("/v1/revisions", params={"limit": CURRENT}).json()["items"]
    }
    assert reasons[SEED].startswith("Phi-3 Cookbook 'Fine Tuning Scenarios' table as published")
    assert reasons[CORRECTIONS_REVISION].startswith("Corrections from the Phi-3 Cookbook")
    assert reasons[PAIRS_REVISION].startswith("ZeRO stages, FSDP and technique pairs")
    assert reasons[REQUIREMENTS_REVISION].startswith("Structured pair requirements")


def test_check_refuses_a_database_behind_head(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0001")
    with pytest.raises(CommandError):
        command.check(migrate.alembic_config(empty_database_url))


def test_committed_seed_is_the_shared_seed_verbatim() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert SEED_COPY.read_bytes() == SHARED_SEED.read_bytes()
