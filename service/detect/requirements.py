"""requirements.txt files and `pip freeze` output: exact version pins."""

from __future__ import annotations

import re
from collections.abc import Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from service.detect.errors import DetectError
from service.detect.plan import Location, Plan, PlannedLibrary

# pip's rule: `#` starts a comment at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_PIN_LINE = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*===?\s*[^\s=]", re.M)
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2")


def has_pins(text: str) -> bool:
    """Whether some line of `text` looks like a `name==version` pin."""
    return _PIN_LINE.search(text) is not None


def detect_requirements(text: str, file: str) -> Plan:
    """Library pins in a requirements file or `pip freeze` output; locations point into `file`.

    Only exact pins (`==` without a wildcard, or `===`) give a version, kept as written (a
    local part such as `+cu121` stays). Other specifiers, `name @ url`, bare URLs and paths,
    option lines (`-r`, `-e`, `--index-url`), trailing `--hash` options, comments and
    environment markers are accepted and record nothing. Markers are not evaluated: the first
    pin of a name wins. Names are normalized per PEP 503.
    Raises DetectError for a line that is not a valid requirement.
    """
    plan = Plan()
    for line_no, line in _logical_lines(text):
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
    return plan


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
