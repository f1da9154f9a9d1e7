"""Every fixture reads into the shared vocabulary: technique ids of the shipped data, setting
names of SETTINGS, notes of a known severity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.detect import DetectError, detect_text
from service.detect.plan import SETTINGS, Plan
from service.detect.references import Source, Unavailable
from tests.detect._helpers import FIXTURES

SEED = Path(__file__).resolve().parents[2] / "migrations" / "seed"
KNOWN_IDS = {
    technique["id"]
    for name in ("techniques.json", "compat.json")
    for technique in json.loads((SEED / name).read_text(encoding="utf-8"))["techniques"]
}
# Fixtures that are invalid on purpose, and the line their error points at.
INVALID = {"accelerate/template.yaml": 6}
FILES = sorted(
    path.relative_to(FIXTURES).as_posix()
    for path in FIXTURES.rglob("*")
    if path.is_file() and path.suffix in (".yml", ".yaml", ".json", ".txt", ".toml")
)


def _read(relative: str) -> Plan:
    path = FIXTURES / relative

    def resolve(reference: str) -> Source | Unavailable:
        for base in (FIXTURES / relative.split("/", 1)[0], path.parent):
            if (base / reference).is_file():
                return Source(reference, (base / reference).read_text(encoding="utf-8"))
        return Unavailable("not found")

    return detect_text(path.read_text(encoding="utf-8"), relative, resolve=resolve)


@pytest.mark.parametrize("relative", FILES)
def test_fixture_reads_into_the_shared_vocabulary(relative: str) -> None:
    if relative in INVALID:
        with pytest.raises(DetectError) as caught:
            _read(relative)
        assert caught.value.line == INVALID[relative]
        return
    plan = _read(relative)
    assert {t.id for t in plan.techniques} <= KNOWN_IDS
    assert set(plan.settings) <= set(SETTINGS)
    assert all(name == setting.name for name, setting in plan.settings.items())
    assert {note.severity for note in plan.notes} <= {"info", "warning"}
    assert all(t.location is not None and t.evidence for t in plan.techniques)


def test_there_are_fixtures_of_every_kind() -> None:
    folders = {relative.split("/", 1)[0] for relative in FILES}
    assert folders >= {"accelerate", "axolotl", "deepspeed", "llamafactory", "peft", "pip"}
    assert folders >= {"pyproject", "torchtune"}
