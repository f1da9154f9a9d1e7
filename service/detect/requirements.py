"""requirements.txt files and `pip freeze` output: exact version pins, following includes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from service.detect.errors import DetectError
from service.detect.plan import Location, Plan, PlannedLibrary
from service.detect.references import Resolver, Source, nested
from service.detect.values import note

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

# pip's rule: `#` starts a comment at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_PIN_LINE = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*===?\s*[^\s=]", re.M)
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2")
_INCLUDES = {"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c"}
MAX_DEPTH = 10
"""How deep includes of includes are followed."""


def has_pins(text: str) -> bool:
    """Whether some line of `text` looks like a `name==version` pin."""
    return _PIN_LINE.search(text) is not None


def detect_requirements(text: str, file: str, include: Resolver | None = None) -> Plan:
    """Library pins in a requirements file or `pip freeze` output; locations point into `file`.

    Only exact pins (`==` without a wildcard, or `===`) give a version, kept as written (a
    local part such as `+cu121` stays). Other specifiers, `name @ url`, bare URLs and paths,
    option lines (`-e`, `--index-url`), trailing `--hash` options, comments, extras and
    environment markers are accepted and record nothing more. Markers are not evaluated: the
    first pin of a name wins, in reading order. Names are normalized per PEP 503.

    `-r FILE` / `--requirement FILE` includes and `-c FILE` / `--constraint FILE` constraints
    are read through `include`, at the point where they appear (a constraint's pins are the
    versions pip would install). The path handed to `include` is relative to the file that
    names it, joined as `service.detect.references.nested` does. An include that is not
    available, not followed (no resolver), cyclic or nested more than MAX_DEPTH deep gets a
    warning note. Raises DetectError for a line that is not a valid requirement, in whichever
    file it is.
    """
    plan = Plan()
    _read(plan, text, file, include, "", ())
    return plan


def _read(
    plan: Plan,
    text: str,
    file: str,
    include: Resolver | None,
    reference: str,
    stack: tuple[str, ...],
) -> None:
    # packaging costs more to import than the rest of the readers: only when it is needed.
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for line_no, line in _logical_lines(text):
        included = _include(line)
        if included is not None:
            option, target = included
            _follow(plan, file, line_no, option, nested(reference, target), include, stack)
            continue
        requirement_text = _requirement_part(line)
        if not requirement_text or _is_url_or_path(requirement_text):
            continue
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as exc:
            message = str(exc).splitlines()[0]
            raise DetectError(file, line_no, None, f"invalid requirement: {message}") from None
        version = _exact_pin(requirement.specifier)
        if requirement.url is not None or version is None:
            continue
        name = canonicalize_name(requirement.name)
        library = PlannedLibrary(name, version, Location(file, line_no, name))
        plan.libraries.setdefault(name, library)


def _include(line: str) -> tuple[str, str] | None:
    """The include option (-r or -c) and its path when `line` is an include line."""
    tokens = _COMMENT.sub("", line).split()
    if not tokens:
        return None
    first = tokens[0]
    for spelling, option in _INCLUDES.items():
        if first == spelling and len(tokens) > 1:
            return option, tokens[1]
        if spelling.startswith("--") and first.startswith(spelling + "="):
            return option, first[len(spelling) + 1 :]
        if not spelling.startswith("--") and first.startswith(spelling) and len(first) > 2:
            return option, first[2:]
    return None


def _follow(
    plan: Plan,
    file: str,
    line_no: int,
    option: str,
    target: str,
    include: Resolver | None,
    stack: tuple[str, ...],
) -> None:
    here = Location(file, line_no, option)
    if include is None:
        note(plan, "warning", f"{option} {target}: not followed (no resolver)", here)
        return
    if target in stack:
        note(plan, "warning", f"{option} {target}: an include cycle, not followed again", here)
        return
    if len(stack) >= MAX_DEPTH:
        message = f"{option} {target}: includes nested more than {MAX_DEPTH} deep, not followed"
        note(plan, "warning", message, here)
        return
    source = include(target)
    if not isinstance(source, Source):
        note(plan, "warning", f"{option} {target}: not read ({source.reason})", here)
        return
    try:
        _read(plan, source.text, source.file, include, target, (*stack, target))
    except DetectError as exc:
        message = f"{exc.message} (included from {file}, line {line_no})"
        raise DetectError(exc.file, exc.line, exc.column, message) from None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines joined across trailing backslashes, each with the 1-based line it starts on."""
    pending: list[str] = []
    start = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = line_no
        if line.endswith("\\") and not _COMMENT.match(line):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _requirement_part(line: str) -> str:
    """The requirement in a line, without its comment and its options (as pip splits them)."""
    kept: list[str] = []
    for token in _COMMENT.sub("", line).split():
        if token.startswith("-"):
            break
        kept.append(token)
    return " ".join(kept)


def _is_url_or_path(requirement_text: str) -> bool:
    first = requirement_text.split(";")[0].strip()
    return (
        "://" in first
        or first.startswith((".", "/", "~", "file:"))
        or first.lower().endswith(_ARCHIVES)
    )


def _exact_pin(specifier: SpecifierSet) -> str | None:
    for spec in specifier:
        if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*")):
            return spec.version
    return None
