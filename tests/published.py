"""The data as published: the seed table parsed independently of the service's own code, and
the revision numbers the migrations ship.

`CURRENT` is whatever the migrations make newest, read from a real migrated database, so a new
data migration moves it without editing any test. Tests that mean one particular historical
revision name it (`SEED`, `CORRECTIONS_REVISION`, `PAIRS_REVISION`, `REQUIREMENTS_REVISION`);
every other revision number in a test is `CURRENT` or `CURRENT + k` (the k-th write after it).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Final

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
SEED_COPY = ROOT / "migrations" / "seed" / "phi3-cookbook-fine-tuning-scenarios.md"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "fine-tuning-scenarios.md"

SEED: Final = 1
"""The seed table exactly as published (column header "DORA" included)."""
CORRECTIONS_REVISION: Final = 2
"""The Cookbook's corrections: the six cells of `CORRECTIONS` and the DORA -> DoRA name."""
PAIRS_REVISION: Final = 3
"""ZeRO's stages and variants, FSDP, and the first technique-pair facts."""
REQUIREMENTS_REVISION: Final = 4
"""Pair requirements: replaces 6 pair facts and adds 2."""


@cache
def migrated_sqlite() -> Path:
    """A SQLite database file migrated to head once per process (removed at exit).

    Treat it as read-only: conftest copies it as the per-test template on SQLite, so the
    migrations run once per process however many tests need a database.
    """
    from service import db  # the service's import cost only when a test needs the data

    folder = Path(tempfile.mkdtemp(prefix="ftm-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "head.db"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    return path


def newest_migrated_revision() -> int:
    """max(number) of the revision table after every migration has run."""
    engine = sa.create_engine(f"sqlite:///{migrated_sqlite()}")
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT max(number) FROM revision")).scalar_one()
    finally:
        engine.dispose()  # the last connection closing folds the WAL back into the file
    return int(value)


CURRENT: Final = newest_migrated_revision()
"""The newest revision a freshly migrated database holds; a test's k-th write makes CURRENT + k."""

COLUMN_IDS = ["lora", "qlora", "peft", "deepspeed", "zero", "dora"]
TECHNIQUE_IDS = [
    *COLUMN_IDS,
    "zero-1",
    "zero-2",
    "zero-3",
    "zero-offload",
    "zero-infinity",
    "zero-plus-plus",
    "fsdp",
]
SCENARIO_IDS = [
    "domain-adaptation",
    "nlp-tasks",
    "qa-tasks",
    "chatbot-responses",
    "creative-generation",
    "reduce-cost",
    "reduce-memory",
    "fewer-parameters",
    "data-parallel-memory",
]
CORRECTIONS = {
    ("reduce-cost", "peft"): ("no", "yes"),
    ("reduce-cost", "dora"): ("no", "yes"),
    ("reduce-memory", "lora"): ("no", "yes"),
    ("reduce-memory", "peft"): ("no", "yes"),
    ("fewer-parameters", "lora"): ("no", "yes"),
    ("data-parallel-memory", "dora"): ("yes", "no"),
}


def table_markdown() -> str:
    """The table block of the seed page, lines starting with '|', newline-terminated."""
    lines = SEED_COPY.read_text(encoding="utf-8").splitlines()
    return "\n".join(line.rstrip() for line in lines if line.startswith("|")) + "\n"


def table_rows() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column headers, [(title, [Yes/No ...])]) of the published table."""
    rows = [line.strip("|").split("|") for line in table_markdown().splitlines()]
    header = rows[2][1:]
    return header, [(r[0], r[1:]) for r in rows[3:]]
