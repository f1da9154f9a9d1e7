"""pyproject.toml dependency lists (PEP 621): exact pins of `dependencies` and
`optional-dependencies`."""

from __future__ import annotations

import re

from service.detect.errors import DetectError, NotAConfig
from service.detect.plan import Location, Plan, PlannedLibrary
from service.detect.requirements import detect_requirements

# Python 3.11's TOMLDecodeError has no position attributes, only this suffix.
_POSITION = re.compile(r"\((?:at line (\d+), column (\d+)|at end of document)\)$")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(?:#.*)?$")


def detect_pyproject(text: str, file: str) -> Plan:
    """Library pins in a pyproject.toml: `[project] dependencies` and every list of
    `[project.optional-dependencies]`, each read as one requirements line (exact pins only,
    as `detect_requirements` reads them). Locations point at the line of each string.

    Raises DetectError for invalid TOML or a dependency that is not a valid requirement, and
    NotAConfig for a pyproject.toml without a `[project]` table (a tool-settings file).
    """
    import tomllib  # only when a pyproject.toml is read

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _POSITION.search(str(exc))
        line = column = None
        if match and match.group(1):
            line, column = int(match.group(1)), int(match.group(2))
        elif match:
            line = text.count("\n") + (0 if text.endswith("\n") else 1)
        message = _POSITION.sub("", str(exc)).strip()
        raise DetectError(file, line, column, f"invalid TOML: {message}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        message = "pyproject.toml without a [project] table: no dependency list"
        raise NotAConfig(file, None, None, message)
    lists: list[tuple[str, object]] = [("project.dependencies", project.get("dependencies"))]
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        lists.extend((f"project.optional-dependencies.{k}", v) for k, v in optional.items())
    elif optional is not None:
        raise _not_a_list(file, text, "project.optional-dependencies", "a table")
    plan = Plan()
    lines = text.splitlines()
    for key, requirements in lists:
        if requirements is None:
            continue
        if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
            raise _not_a_list(file, text, key, "a list of strings")
        start = _table_line(lines, "project")
        for requirement in requirements:
            line = _line_of(lines, requirement, start)
            try:
                found = detect_requirements(requirement, file)
            except DetectError as exc:
                raise DetectError(file, line, None, f"{key}: {exc.message}") from None
            for name, library in found.libraries.items():
                plan.libraries.setdefault(
                    name, PlannedLibrary(name, library.version, Location(file, line, name))
                )
            start = line or start
    return plan


def _not_a_list(file: str, text: str, key: str, what: str) -> DetectError:
    line = _table_line(text.splitlines(), "project")
    return DetectError(file, line, None, f"{key} is not {what}")


def _table_line(lines: list[str], name: str) -> int | None:
    """The 1-based line of the `[name]` table header, or None."""
    for number, line in enumerate(lines, start=1):
        match = _TABLE.match(line)
        if match and match.group(1).replace(" ", "") == name:
            return number
    return None


def _line_of(lines: list[str], requirement: str, start: int | None) -> int | None:
    """The first line at or after `start` that holds `requirement` as a quoted string."""
    quoted = (f'"{requirement}"', f"'{requirement}'")
    for number in range(start or 1, len(lines) + 1):
        if any(q in lines[number - 1] for q in quoted):
            return number
    return None
