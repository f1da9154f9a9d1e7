"""Run the Alembic migrations from code (the CLI and the tests use this, not a shell)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from service.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the project's migrations against `database_url`."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, target: str = "head") -> None:
    """Apply migrations up to `target`."""
    command.upgrade(alembic_config(database_url), target)


def downgrade(database_url: str, target: str = "base") -> None:
    """Revert migrations down to `target`."""
    command.downgrade(alembic_config(database_url), target)
