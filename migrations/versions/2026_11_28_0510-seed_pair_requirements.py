"""Revision 4: structured pair requirements and the pair facts they correct or add.

From migrations/seed/requirements.json, every datum sourced from the shared fact sheet or the
tools' own docs (PEFT's FSDP guide, DeepSpeed's config docs and ZeRO-Offload tutorial,
Axolotl's FSDP-QLoRA docs):

- qlora + fsdp gains the requirements PEFT and Axolotl actually set
  (fsdp.cpu_ram_efficient_loading = true, fsdp.use_orig_params = false);
- zero-2 + zero-offload becomes compatible, the canonical ZeRO-Offload setup, with its
  conditions as requirements (no NVMe optimizer offload, no parameter offload);
- peft + deepspeed becomes compatible (PEFT's DeepSpeed guide: supported; its caveats are about
  merging and where the savings land, not whether training runs);
- zero-offload + lora becomes compatible (PEFT runs it; the caveats are about where savings
  land), and the caveats of zero-offload + zero-1 / qlora / lora name the stage they apply to;
- lora + fsdp and peft + fsdp are new, from PEFT's FSDP guide.

Each update checks the value it expects to replace, and the revision's diff lists every field
that changed, before and after.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 05:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import op

from migrations import seedlib

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION = 4
CREATED_AT = datetime(2026, 11, 28, 0, 4, tzinfo=UTC)
PAIR_FIELDS = (
    "verdict", "note", "caveats", "settings", "versions", "recommended_versions", "since",
    "confidence", "sources", "requirements",
)  # fmt: skip


def upgrade() -> None:
    conn = op.get_bind()
    seed = seedlib.load_json("requirements.json")
    table = seedlib.pair_version_requirements_t
    seedlib.insert_revision(conn, REVISION, seed["reason"], CREATED_AT, diff=[])
    diff: list[dict[str, Any]] = []

    def key(slug: str) -> int:
        return seedlib.current_key(conn, seedlib.technique_version_t, "technique_id", slug)

    def located(pair: dict[str, Any]) -> tuple[int, int, str]:
        # Diff ids name the pair in creation order (older technique first), as admin writes do.
        (low, first), (high, second) = sorted((key(pair[s]), pair[s]) for s in ("a", "b"))
        return low, high, f"{first}+{second}"

    for change in seed["update"]:
        low, high, ident = located(change)
        old = seedlib.replace_current(
            conn, table, {"low_id": low, "high_id": high}, REVISION, change["after"]
        )
        for field, expected in change["before"].items():
            if old[field] != expected:
                raise RuntimeError(f"seed expects {change['a']}+{change['b']} {field}={expected}")
        after = change["after"]
        before = {field: old[field] if old[field] is not None else [] for field in after}
        diff.append({"op": "update", "kind": "pair", "id": ident,
                     "before": before, "after": after})  # fmt: skip
    for pair in seed["create"]:
        low, high, ident = located(pair)
        fields = {name: pair[name] for name in PAIR_FIELDS}
        seedlib.insert_version(
            conn, table, fields | {"low_id": low, "high_id": high, "valid_from": REVISION}
        )
        diff.append({"op": "create", "kind": "pair", "id": ident,
                     "before": None, "after": fields})  # fmt: skip
    conn.execute(
        seedlib.revision_t.update().where(seedlib.revision_t.c.number == REVISION).values(diff=diff)
    )


def downgrade() -> None:
    seedlib.undo_revision(op.get_bind(), REVISION, pairs=True)
