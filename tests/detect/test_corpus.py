"""The readers on the corpus of real configs (../shared/corpus), read in place.

Every file of MANIFEST.json is read as `detect_text` reads it, its references resolved from
the corpus source root (`axolotl/`, `llamafactory/`, `accelerate/`: the working directory the
tools run in), then beside the file. Techniques are credited by the parent closure of the
shipped technique data (qlora and dora count as lora, zero-N as zero and deepspeed), and a
manifest entry's `optional` ids count neither way, as the corpus README says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from service.detect import DetectError, NotAConfig, detect_text
from service.detect.plan import SETTINGS, Plan
from service.detect.references import Resolver, Source, Unavailable

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus"
SEED = REPO / "migrations" / "seed"

if not (CORPUS / "MANIFEST.json").is_file():
    pytest.skip(f"no corpus at {CORPUS}", allow_module_level=True)

SEED_TECHNIQUES = ("lora", "qlora", "peft", "deepspeed", "zero", "dora")
TECHNIQUES = (*SEED_TECHNIQUES, "fsdp")
THRESHOLD = 0.98

# Measured on this corpus when the readers were written: a drop in any figure fails below.
BASELINE = dict.fromkeys(TECHNIQUES, (1.0, 1.0))


def _parents() -> dict[str, str | None]:
    """Technique id -> parent id, from the shipped seed data."""
    parents: dict[str, str | None] = {}
    for name in ("techniques.json", "compat.json"):
        for technique in json.loads((SEED / name).read_text(encoding="utf-8"))["techniques"]:
            parents[technique["id"]] = technique.get("parent")
    return parents


PARENTS = _parents()


def closure(ids: Iterable[str]) -> set[str]:
    """`ids` with every ancestor added."""
    out: set[str] = set()
    for technique in ids:
        current: str | None = technique
        while current is not None and current not in out:
            out.add(current)
            current = PARENTS.get(current)
    return out


def resolver(entry: str) -> Resolver:
    """References of `entry` as the tools resolve them: source root first, then beside it."""
    source_root = CORPUS / entry.split("/", 1)[0]
    beside = (CORPUS / entry).parent

    def resolve(reference: str) -> Source | Unavailable:
        for candidate in (source_root / reference, beside / reference):
            if candidate.is_file():
                shown = candidate.resolve().relative_to(CORPUS.resolve()).as_posix()
                return Source(shown, candidate.read_text(encoding="utf-8"))
        return Unavailable(f"not found in {source_root.name}/ or beside {entry}")

    return resolve


@dataclass
class Read:
    """One manifest entry and what the readers made of it."""

    entry: dict[str, Any]
    plan: Plan | None = None
    error: DetectError | None = None
    found: set[str] = field(default_factory=set)
    expected: set[str] = field(default_factory=set)

    @property
    def file(self) -> str:
        return str(self.entry["file"])


def read(entry: dict[str, Any]) -> Read:
    result = Read(entry)
    text = (CORPUS / entry["file"]).read_text(encoding="utf-8")
    try:
        result.plan = detect_text(text, entry["file"], resolve=resolver(entry["file"]))
    except DetectError as exc:
        result.error = exc
        return result
    optional = set(entry.get("optional", []))
    result.found = closure(t.id for t in result.plan.techniques) - optional
    result.expected = closure(entry["expected"]) - optional
    return result


MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def reads() -> list[Read]:
    return [read(entry) for entry in MANIFEST]


def _scored(reads: list[Read]) -> list[Read]:
    """The entries that count for precision and recall: training configs and the configs that
    load an adapter without training (their labels say what they load)."""
    return [r for r in reads if r.entry["format"] != "other" and r.entry.get("valid", True)]


def figures(reads: list[Read]) -> dict[str, tuple[float, float, int, int, int]]:
    """Per technique: precision, recall, true positives, false positives, false negatives."""
    out: dict[str, tuple[float, float, int, int, int]] = {}
    for technique in TECHNIQUES:
        tp = sum(technique in r.found and technique in r.expected for r in _scored(reads))
        fp = sum(technique in r.found and technique not in r.expected for r in _scored(reads))
        fn = sum(technique not in r.found and technique in r.expected for r in _scored(reads))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        out[technique] = (precision, recall, tp, fp, fn)
    return out


def _table(reads: list[Read]) -> str:
    lines = ["technique  precision  recall   tp  fp  fn"]
    for technique, (precision, recall, tp, fp, fn) in figures(reads).items():
        lines.append(f"{technique:10} {precision:9.3f} {recall:7.3f} {tp:4} {fp:3} {fn:3}")
    misread = [
        f"  {r.file}: found {sorted(r.found)}, expected {sorted(r.expected)}"
        for r in _scored(reads)
        if r.plan is not None and (r.found ^ r.expected) & set(TECHNIQUES)
    ]
    return "\n".join([*lines, "misread:" if misread else "no file misread", *misread])


def test_precision_and_recall_per_technique(reads: list[Read]) -> None:
    low = {
        technique: (precision, recall)
        for technique, (precision, recall, *_) in figures(reads).items()
        if precision < THRESHOLD or recall < THRESHOLD
    }
    assert not low, f"below {THRESHOLD}: {low}\n{_table(reads)}"


def test_figures_do_not_drop_below_the_baseline(reads: list[Read]) -> None:
    measured = {t: (p, r) for t, (p, r, *_) in figures(reads).items()}
    dropped = {
        t: (measured[t], BASELINE[t])
        for t in TECHNIQUES
        if measured[t][0] < BASELINE[t][0] or measured[t][1] < BASELINE[t][1]
    }
    assert not dropped, f"dropped (measured, baseline): {dropped}\n{_table(reads)}"


def test_every_technique_is_exercised(reads: list[Read]) -> None:
    # The corpus has no DoRA config; tests/detect/fixtures cover it. Every other technique
    # must be found in some file, or its perfect figures would mean nothing.
    support = {t: tp + fn for t, (_, _, tp, _, fn) in figures(reads).items()}
    assert {t for t, n in support.items() if n == 0} <= {"dora"}, support
    assert figures(reads)["dora"][3] == 0, "DoRA reported where no file has it"


def test_sub_techniques_match_exactly(reads: list[Read]) -> None:
    # zero-1/2/3, zero-offload, zero-infinity, zero-plus-plus: the label's full closure.
    wrong = [
        f"{r.file}: found {sorted(r.found)}, expected {sorted(r.expected)}"
        for r in _scored(reads)
        if r.plan is not None and r.found != r.expected
    ]
    assert not wrong, "\n".join(wrong)


def test_no_valid_training_config_is_an_error(reads: list[Read]) -> None:
    errors = [
        f"{r.file}: {r.error}"
        for r in reads
        if r.error is not None and r.entry["format"] != "other" and r.entry.get("valid", True)
    ]
    assert not errors, "\n".join(errors)


def test_invalid_configs_are_errors_with_a_line(reads: list[Read]) -> None:
    invalid = [r for r in reads if r.entry.get("valid", True) is False]
    wrong = [
        f"{r.file}: {r.error or 'read without error'}"
        for r in invalid
        if r.error is None or isinstance(r.error, NotAConfig) or r.error.line is None
    ]
    assert not wrong, "\n".join(wrong)


def test_files_that_are_no_training_config_are_skipped(reads: list[Read]) -> None:
    others = [r for r in reads if r.entry["format"] == "other"]
    assert others, "the corpus lists no non-training file"
    wrong = [
        f"{r.file}: {r.plan or r.error}" for r in others if not isinstance(r.error, NotAConfig)
    ]
    assert not wrong, "\n".join(wrong)


def test_configs_that_train_nothing_say_so(reads: list[Read]) -> None:
    loaders = [
        r for r in reads if r.entry.get("training") is False and r.entry["format"] != "other"
    ]
    assert loaders
    silent = [
        r.file
        for r in loaders
        if r.plan is None or not any("trains nothing" in n.message for n in r.plan.notes)
    ]
    assert not silent, silent


def test_configs_with_nothing_to_check_say_what_was_read(reads: list[Read]) -> None:
    empty = [r.plan for r in _scored(reads) if r.plan is not None and not r.plan.techniques]
    assert empty
    silent = [
        plan.notes
        for plan in empty
        if not any(
            n.severity == "info" and "no technique to check" in n.message for n in plan.notes
        )
    ]
    assert not silent, silent


def test_every_reference_in_the_corpus_is_read_not_guessed(reads: list[Read]) -> None:
    guessed = [
        f"{r.file}: {[n.message for n in r.plan.notes if n.severity == 'warning']}"
        for r in reads
        if r.plan is not None and any(s.guessed for s in r.plan.settings.values())
    ]
    assert not guessed, "\n".join(guessed)


PAIRED = [entry for entry in MANIFEST if entry["pairs_with"]]


@pytest.mark.parametrize("entry", PAIRED, ids=[str(entry["file"]) for entry in PAIRED])
def test_a_file_read_with_the_files_it_references_gives_a_plan(entry: dict[str, Any]) -> None:
    by_file = {e["file"]: e for e in MANIFEST}
    plan = Plan()
    expected: set[str] = set(entry["expected"])
    optional: set[str] = set(entry.get("optional", []))
    for name in [entry["file"], *entry["pairs_with"]]:
        text = (CORPUS / name).read_text(encoding="utf-8")
        plan.merge(detect_text(text, name, resolve=resolver(name)))
        expected |= set(by_file[name]["expected"]) if name in by_file else set()
        optional |= set(by_file[name].get("optional", [])) if name in by_file else set()
    found = closure(t.id for t in plan.techniques) - optional
    assert found == closure(expected) - optional, plan.techniques
    assert not any(s.guessed for s in plan.settings.values())
    assert all(t.location is not None and t.evidence for t in plan.techniques)


def test_every_technique_has_a_location_and_evidence(reads: list[Read]) -> None:
    # A line and a key, except LLaMA-Factory's default LoRA, whose key is absent by definition.
    missing = [
        f"{r.file}: {t.id} at {t.location}"
        for r in reads
        if r.plan is not None
        for t in r.plan.techniques
        if t.location is None
        or not t.location.file
        or t.location.key is None
        or (t.location.line is None and t.location.key != "finetuning_type")
        or not t.evidence
    ]
    assert not missing, "\n".join(missing)


def test_settings_use_the_shared_names(reads: list[Read]) -> None:
    unknown = {
        f"{r.file}: {name}"
        for r in reads
        if r.plan is not None
        for name in r.plan.settings
        if name not in SETTINGS
    }
    assert not unknown, sorted(unknown)
    # The base model is named wherever the tool's config names one.
    unnamed = [
        r.file
        for r in _scored(reads)
        if r.plan is not None
        and r.entry["format"] in ("axolotl", "llamafactory")
        and r.plan.model is None
    ]
    assert not unnamed, unnamed
