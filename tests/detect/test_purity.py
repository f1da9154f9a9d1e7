"""The detectors stay pure: no web or database imports, and disk access only in files.py."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import service.detect
from service.detect import DetectError

PACKAGE = Path(service.detect.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
ALLOWED_ROOTS = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "json",
    "packaging",
    "pathlib",
    "posixpath",
    "re",
    "service",
    "tomllib",
    "typing",
    "yaml",
}
# Reading files from disk is files.py's job, and only its.
FILES_ONLY = {"os", "stat"}
ALLOWED_SERVICE = ("service.detect", "service.detect.plan")
IO_FUNCTIONS = {"open"}
IO_METHODS = {"open", "read_text", "read_bytes", "write_text", "exists", "is_file", "resolve"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_package_has_modules() -> None:
    assert {path.name for path in MODULES} >= {
        "__init__.py",
        "files.py",
        "jsonpos.py",
        "accelerate.py",
        "torchtune.py",
        "pyproject.py",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_imports_only_stdlib_yaml_packaging_and_plan(path: Path) -> None:
    allowed = ALLOWED_ROOTS | (FILES_ONLY if path.name == "files.py" else set())
    for name in _imports(path):
        assert name.split(".")[0] in allowed, name
        if name.startswith("service"):
            assert name.startswith(ALLOWED_SERVICE), name


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.name != "files.py"], ids=lambda path: path.name
)
def test_no_file_access_outside_files_py(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in IO_FUNCTIONS, f"{path.name}:{node.lineno} calls {func.id}"
            elif isinstance(func, ast.Attribute):
                assert func.attr not in IO_METHODS, f"{path.name}:{node.lineno} calls {func.attr}"


def test_detect_error_survives_pickling() -> None:
    # The pickle is made here from our own object, so loading it is safe.
    error = pickle.loads(pickle.dumps(DetectError("c.yml", 3, 4, "bad")))  # noqa: S301
    assert (error.file, error.line, error.column, error.message) == ("c.yml", 3, 4, "bad")
    assert str(error) == "c.yml:3:4: bad"
    assert str(DetectError("c.yml", 3, None, "bad")) == "c.yml:3: bad"
    assert str(DetectError("c.yml", None, None, "bad")) == "c.yml: bad"
