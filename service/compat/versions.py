"""Library pins of a plan, parsed as PEP 440 versions and checked against a pair's specifiers.

Pure (standard library, `packaging`, `service.detect.plan`); `service.compat.rules` re-exports
BadVersion.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from service.detect.plan import PlannedLibrary, normalize_name


class BadVersion(InvalidVersion):
    """A plan pins `library` to `value`, which is not a PEP 440 version (the API answers 422)."""

    def __init__(self, library: str, value: str) -> None:
        super().__init__(f"{library}: {value!r} is not a PEP 440 version")
        self.library = library
        self.value = value


@dataclass(frozen=True, slots=True)
class Pin:
    """A plan's library pin with its parsed version."""

    library: PlannedLibrary
    version: Version


def parse_pins(libraries: Iterable[PlannedLibrary]) -> Mapping[str, Pin]:
    """Pins by normalized (PEP 503) library name.

    Raises BadVersion for the first version, in library-name order, that is not PEP 440, so the
    same plan always reports the same library. If two pins normalize to one name, the first in
    that order wins.
    """
    pins: dict[str, Pin] = {}
    for library in sorted(libraries, key=lambda lib: (normalize_name(lib.name), lib.name)):
        try:
            version = Version(library.version)
        except InvalidVersion as exc:
            raise BadVersion(library.name, library.version) from exc
        pins.setdefault(normalize_name(library.name), Pin(library, version))
    return pins


def satisfies(version: Version, specifier: str) -> bool:
    """True when the version matches the specifier.

    Pre-releases count: a plan pinned to 0.11.0rc1 does meet >=0.10.0, and 0.10.0rc1 does not.
    """
    return _specifier_set(specifier).contains(version, prereleases=True)


@functools.lru_cache(maxsize=1024)
def _specifier_set(specifier: str) -> SpecifierSet:
    # Pairs share a few specifiers, and every check of a plan parses them all again otherwise.
    return SpecifierSet(specifier)


def upgrade_fix(library: str, version: Version, specifier: str, recommended: str | None) -> str:
    """A one-line fix for a pin that misses `specifier`: "upgrade peft to >=0.10.0" when every
    bound the pin misses is a lower bound, else "pin peft to a version matching ...".
    """
    missed = [s for s in SpecifierSet(specifier) if not s.contains(version, prereleases=True)]
    if all(s.operator in (">", ">=") for s in missed):
        fix = f"upgrade {library} to {specifier}"
    else:
        fix = f"pin {library} to a version matching {specifier}"
    return fix if recommended is None else f"{fix} (recommended {recommended})"
