"""The estimator core stays pure: standard library only, no I/O, nothing from the web or the
database, so the CLI can run it offline (STYLE.md, "What may import what")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import service.estimates

PACKAGE = Path(service.estimates.__file__).parent
INTEGRATION = {"router.py", "schemas.py", "service.py", "command.py"}
"""The API and CLI around the core: they may use pydantic, the web layer and files."""
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name not in INTEGRATION)
ALLOWED_ROOTS = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "functools",
    "math",
    "service",
    "types",
    "typing",
}
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "sqlmodel", "httpx", "pydantic"}
IO_FUNCTIONS = {"open", "print", "input", "exec", "eval"}
IO_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "exists", "is_file"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_package_has_its_modules() -> None:
    names = {path.name for path in MODULES}
    assert {
        "__init__.py",
        "inputs.py",
        "shapes.py",
        "formulas.py",
        "profiles.py",
        "svg.py",
    } <= names
    assert not names & INTEGRATION


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_imports_only_the_standard_library_and_itself(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] in ALLOWED_ROOTS, name
        if name.startswith("service"):
            assert name.startswith("service.estimates"), name


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_io(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in IO_FUNCTIONS, f"{path.name}:{node.lineno} calls {func.id}"
            elif isinstance(func, ast.Attribute):
                assert func.attr not in IO_METHODS, f"{path.name}:{node.lineno} calls {func.attr}"


def test_importing_loads_no_web_or_database_module() -> None:
    # A fresh interpreter: this test process has already imported the app.
    code = "import sys, service.estimates; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {name.split(".")[0] for name in loaded} & FORBIDDEN
    assert not [
        name
        for name in loaded
        if name.startswith("service.") and not name.startswith("service.estimates")
    ]
