"""Settings, read once from the environment (prefix `FTM_`) or a `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}  # as the logging module spells them


def _log_level(value: object) -> object:
    if not isinstance(value, str):
        return value
    level = value.strip().upper()
    return _LEVEL_ALIASES.get(level, level)


class Settings(BaseSettings):
    """Every knob of the service. Each field is `FTM_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FTM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./data/ftmatrix.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db.",
    )
    db_pool_size: int = Field(
        default=48,
        ge=1,
        description=(
            "Connections kept open: one per worker thread (~40), plus the second one a write "
            "holds while it reads cells (writes take turns)."
        ),
    )
    snapshot_cache_size: int = Field(
        default=16, ge=1, description="Past revisions kept in memory for `at=` reads."
    )
    require_read_key: bool = Field(default=False, description="Ask for an API key on reads too.")
    fast_path: bool = Field(
        default=True,
        description=(
            "Answer repeated reads of the newest revision from prepared bytes, before FastAPI "
            "(service.web.fastpath). Off: every read takes the app's own path, as a cache miss "
            "does (to measure that path, or to debug it)."
        ),
    )
    max_page_size: int = Field(default=1000, ge=1, description="Largest `limit` a list accepts.")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body; 413 past it."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins allowed by CORS, as JSON (e.g. ["https://dash.example"]); none: off.',
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Addresses (comma-separated IPs or CIDRs, as uvicorn's forwarded_allow_ips) whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed; none by default, so no client "
            "can set the address the audit log records."
        ),
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest total of request headers; 431 past it."
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, description="Seconds an idle keep-alive connection stays open."
    )
    limit_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Connections (plus tasks) past which uvicorn answers 503; none: no limit.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description=(
            "Directory where each worker writes its metric totals, so that any worker's "
            "/metrics adds up all of them; `ftmatrix serve` makes one for its workers."
        ),
    )
    log_level: Annotated[LogLevel, BeforeValidator(_log_level)] = Field(
        default="INFO", description="Level of the JSON logs (any case; WARN and FATAL too)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own `Settings`)."""
    return Settings()
