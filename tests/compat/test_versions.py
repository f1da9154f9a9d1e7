"""Pins: PEP 440 parsing, specifier checks, and the wording of version fixes."""

from __future__ import annotations

import pytest
from packaging.version import InvalidVersion, Version

from service.compat.rules import BadVersion
from service.compat.versions import parse_pins, satisfies, upgrade_fix
from service.detect.plan import PlannedLibrary


def test_bad_version_is_an_invalid_version_naming_library_and_value() -> None:
    with pytest.raises(BadVersion) as caught:
        parse_pins([PlannedLibrary("peft", "0.10.0"), PlannedLibrary("torch", "latest")])
    error = caught.value
    assert isinstance(error, InvalidVersion)
    assert isinstance(error, ValueError)
    assert (error.library, error.value) == ("torch", "latest")
    assert str(error) == "torch: 'latest' is not a PEP 440 version"


def test_first_bad_version_by_library_name_whatever_the_order() -> None:
    libraries = [PlannedLibrary("trl", "main"), PlannedLibrary("accelerate", "==1.0")]
    for ordered in (libraries, libraries[::-1]):
        with pytest.raises(BadVersion) as caught:
            parse_pins(ordered)
        assert caught.value.library == "accelerate"


def test_pins_are_keyed_by_normalized_name() -> None:
    pins = parse_pins([PlannedLibrary("Flash_Attn", "2.5.8"), PlannedLibrary("peft", "0.13.0")])
    assert sorted(pins) == ["flash-attn", "peft"]
    assert pins["flash-attn"].version == Version("2.5.8")
    assert pins["flash-attn"].library.name == "Flash_Attn"


@pytest.mark.parametrize(
    ("version", "specifier", "expected"),
    [
        ("0.9.0", ">=0.10.0", False),
        ("0.10.0", ">=0.10.0", True),
        ("0.10.0rc1", ">=0.10.0", False),
        ("0.11.0rc1", ">=0.10.0", True),
        ("0.11.0.dev0", ">=0.10.0", True),
        ("4.38.2", ">4.38.2", False),
        ("4.38.3", ">4.38.2", True),
        ("2.1.0+cu118", ">=2.1", True),
        ("1.5", ">=1.0,<2", True),
        ("2.0", ">=1.0,<2", False),
    ],
)
def test_satisfies(version: str, specifier: str, expected: bool) -> None:
    assert satisfies(Version(version), specifier) is expected


@pytest.mark.parametrize(
    ("version", "specifier", "recommended", "expected"),
    [
        ("0.9.0", ">=0.10.0", ">0.13.0", "upgrade peft to >=0.10.0 (recommended >0.13.0)"),
        ("0.9.0", ">=0.10.0", None, "upgrade peft to >=0.10.0"),
        ("0.9.0", ">=0.10.0,<1", None, "upgrade peft to >=0.10.0,<1"),
        ("1.2.0", ">=0.10.0,<1", None, "pin peft to a version matching >=0.10.0,<1"),
        ("0.9.0", "~=0.10", None, "pin peft to a version matching ~=0.10"),
    ],
)
def test_upgrade_fix(version: str, specifier: str, recommended: str | None, expected: str) -> None:
    assert upgrade_fix("peft", Version(version), specifier, recommended) == expected
