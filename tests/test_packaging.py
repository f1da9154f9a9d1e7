"""The package's metadata: an SPDX license expression (PEP 639), so setuptools builds it with
no deprecation banner, and a build requirement new enough to read that expression."""

from __future__ import annotations

import tomllib
from importlib.metadata import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_license_is_an_spdx_expression() -> None:
    meta = metadata("ftmatrix")
    assert meta["License-Expression"] == "MIT"
    # A `License ::` classifier beside an expression is what setuptools warns about.
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]


def test_the_build_requires_a_setuptools_that_reads_spdx_strings() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    # setuptools 77.0.0 is the first that accepts `license = "MIT"` (76.1.0 rejects it).
    assert "setuptools>=77" in project["build-system"]["requires"]
