"""The training plan: what a job uses, as declared or as detected from its config files.

Shared by `service.detect` (which builds plans from files) and `service.compat.rules` (which
checks them). Pure data: no I/O, no database, no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file a fact was found. `line` is 1-based; `key` is the config key, dotted."""

    file: str
    line: int | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedTechnique:
    """A technique the plan uses (a slug such as `qlora` or `zero-3`) and what revealed it."""

    id: str
    location: Location | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedLibrary:
    """A library pinned by the plan: normalized name (PEP 503, lower case) and version string."""

    name: str
    version: str
    location: Location | None = None


@dataclass(slots=True)
class Plan:
    """A training plan: techniques (ordered, de-duplicated by id), scenarios and library pins."""

    techniques: list[PlannedTechnique] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    libraries: dict[str, PlannedLibrary] = field(default_factory=dict)

    def add_technique(self, technique: PlannedTechnique) -> None:
        """Add a technique unless one with the same id is already there (first evidence wins)."""
        if all(t.id != technique.id for t in self.techniques):
            self.techniques.append(technique)

    def merge(self, other: Plan) -> None:
        """Fold another plan into this one (first occurrence of each id or library wins)."""
        for technique in other.techniques:
            self.add_technique(technique)
        for scenario in other.scenarios:
            if scenario not in self.scenarios:
                self.scenarios.append(scenario)
        for name, library in other.libraries.items():
            self.libraries.setdefault(name, library)
