"""pyproject.toml: PEP 621 dependencies and optional-dependencies."""

from __future__ import annotations

import pytest

from service.detect.errors import DetectError, NotAConfig
from service.detect.plan import Location
from service.detect.pyproject import detect_pyproject
from tests.detect._helpers import fixture


def test_dependencies_and_optional_dependencies() -> None:
    plan = detect_pyproject(fixture("pyproject/pyproject.toml"), "pyproject.toml")
    assert plan.techniques == []
    assert {name: (lib.version, lib.location) for name, lib in plan.libraries.items()} == {
        "torch": ("2.4.0", Location("pyproject.toml", 8, "torch")),
        "peft": ("0.12.0", Location("pyproject.toml", 10, "peft")),
        "deepspeed": ("0.15.1", Location("pyproject.toml", 14, "deepspeed")),
        "bitsandbytes": ("0.43.3", Location("pyproject.toml", 16, "bitsandbytes")),
    }


def test_without_a_project_table_it_is_not_a_config() -> None:
    with pytest.raises(NotAConfig, match="without a \\[project\\] table"):
        detect_pyproject("[tool.ruff]\nline-length = 100\n", "pyproject.toml")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[project]\nname = "x"\ndependencies = [\n  "torch==2.4.0",\n', 4, "invalid TOML"),
        ('[project]\nname = = "x"\n', 2, "invalid TOML"),
        ('[project]\ndependencies = "torch==2.4.0"\n', 1, "is not a list of strings"),
        ('[project]\ndependencies = [\n  "torch===",\n]\n', 3, "invalid requirement"),
    ],
)
def test_invalid_files(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DetectError) as caught:
        detect_pyproject(text, "pyproject.toml")
    assert not isinstance(caught.value, NotAConfig)
    assert caught.value.line == line
    assert fragment in caught.value.message
