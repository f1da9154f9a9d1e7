"""Shared test helpers: the fixture directory and compact views of plans."""

from __future__ import annotations

from pathlib import Path

from service.detect.plan import Plan

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(relative: str) -> str:
    """The text of a fixture file."""
    return (FIXTURES / relative).read_text(encoding="utf-8")


def ids(plan: Plan) -> list[str]:
    """Technique ids of a plan, in order."""
    return [technique.id for technique in plan.techniques]


def where(plan: Plan) -> dict[str, tuple[str, int | None, str | None]]:
    """Each technique id mapped to (file, line, key) of its location."""
    out: dict[str, tuple[str, int | None, str | None]] = {}
    for technique in plan.techniques:
        assert technique.location is not None, technique
        location = technique.location
        out[technique.id] = (location.file, location.line, location.key)
    return out


def evidence(plan: Plan) -> dict[str, str | None]:
    """Each technique id mapped to its evidence."""
    return {technique.id: technique.evidence for technique in plan.techniques}


def settings(plan: Plan) -> dict[str, object]:
    """Each setting name mapped to its value."""
    return {name: setting.value for name, setting in plan.settings.items()}


def setting_at(plan: Plan, name: str) -> tuple[str, int | None, str | None]:
    """(file, line, key) of the location of setting `name`."""
    location = plan.settings[name].location
    assert location is not None, name
    return (location.file, location.line, location.key)


def notes(plan: Plan) -> list[tuple[str, str]]:
    """(severity, message) of each note, in order."""
    return [(note.severity, note.message) for note in plan.notes]
