"""The seed table as published, parsed independently of the service's own code."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_COPY = ROOT / "migrations" / "seed" / "phi3-cookbook-fine-tuning-scenarios.md"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "fine-tuning-scenarios.md"

# Revision 3 (a migration) adds ZeRO's stages and variants, FSDP and the technique pairs.
CURRENT = 3
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
