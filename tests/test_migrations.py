"""Migrations are the only source of the schema: upgrade, no drift, downgrade."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util.exc import CommandError

from service import db as migrate
from tests.published import SEED_COPY, SHARED_SEED


def test_upgrade_check_and_downgrade_on_an_empty_database(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    command.check(migrate.alembic_config(url))  # raises on drift between models and migrations
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cell_version")).scalar() == 60
        assert conn.execute(sa.text("SELECT max(number) FROM revision")).scalar() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM pair_version")).scalar() == 26
    migrate.downgrade(url, "0002")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(number) FROM revision")).scalar() == 1
        open_cells = "SELECT count(*) FROM cell_version WHERE valid_to IS NULL"
        assert conn.execute(sa.text(open_cells)).scalar() == 54
    migrate.downgrade(url, "base")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables <= {"alembic_version"}
    migrate.upgrade(url)  # and back up again: downgrades leave nothing behind
    engine.dispose()


def test_check_refuses_a_database_behind_head(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0001")
    with pytest.raises(CommandError):
        command.check(migrate.alembic_config(empty_database_url))


def test_committed_seed_is_the_shared_seed_verbatim() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert SEED_COPY.read_bytes() == SHARED_SEED.read_bytes()
