"""requirements.txt and pip freeze: exact pins only, PEP 503 names, nothing else breaks."""

from __future__ import annotations

import pytest

from service.detect.errors import DetectError
from service.detect.plan import Location
from service.detect.references import Source, Unavailable
from service.detect.requirements import detect_requirements, has_pins
from tests.detect._helpers import FIXTURES, fixture


def test_pip_freeze_fixture() -> None:
    plan = detect_requirements(fixture("pip/requirements-freeze.txt"), "freeze.txt")
    assert plan.techniques == []
    assert {name: (lib.version, lib.location) for name, lib in plan.libraries.items()} == {
        "accelerate": ("0.30.1", Location("freeze.txt", 5, "accelerate")),
        "bitsandbytes": ("0.43.1", Location("freeze.txt", 6, "bitsandbytes")),
        "deepspeed": ("0.14.2", Location("freeze.txt", 7, "deepspeed")),
        "flash-attn": ("2.5.8", Location("freeze.txt", 8, "flash-attn")),
        "peft": ("0.11.1", Location("freeze.txt", 10, "peft")),
        "pyyaml": ("6.0.1", Location("freeze.txt", 11, "pyyaml")),
        "torch": ("2.3.0+cu121", Location("freeze.txt", 12, "torch")),
        "transformers": ("4.41.2", Location("freeze.txt", 14, "transformers")),
        "triton": ("2.3.0", Location("freeze.txt", 15, "triton")),
    }
    assert all(lib.name == name for name, lib in plan.libraries.items())


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("Flash_Attn==1", "flash-attn"),
        ("ruamel.yaml==0.18.6", "ruamel-yaml"),
        ("zope.interface__x==1", "zope-interface-x"),
        ("A-_.B==1", "a-b"),
    ],
)
def test_names_are_normalized_per_pep_503(line: str, name: str) -> None:
    assert list(detect_requirements(line, "r.txt").libraries) == [name]


@pytest.mark.parametrize(
    "line",
    [
        "numpy>=1.24",
        "numpy>=1.24,<2",
        "numpy~=1.26",
        "numpy!=1.25",
        "numpy==1.*",
        "numpy",
        "numpy[extra]",
        "numpy @ https://example.com/numpy-1.26.0.whl",
        "https://example.com/numpy-1.26.0-cp311-none-any.whl",
        "git+https://github.com/huggingface/transformers@v4.41.2#egg=transformers",
        "./vendor/numpy-1.26.0.tar.gz",
        "/abs/path/pkg",
        "-e .",
        "-e git+https://github.com/x/y.git#egg=y",
        "-r other.txt",
        "-c constraints.txt",
        "--index-url https://pypi.org/simple",
        "--hash=sha256:abc",
        "# numpy==1.26.0",
        "   ",
        "",
    ],
)
def test_lines_without_exact_pins_record_nothing(line: str) -> None:
    assert detect_requirements(line + "\n", "r.txt").libraries == {}


@pytest.mark.parametrize(
    ("line", "version"),
    [
        ("numpy==1.26.0", "1.26.0"),
        ("numpy == 1.26.0", "1.26.0"),
        ("numpy===1.26.0-legacy", "1.26.0-legacy"),
        ("numpy==1.26.0 ; python_version >= '3.9' and sys_platform != 'win32'", "1.26.0"),
        ("numpy[dev]==1.26.0", "1.26.0"),
        ("numpy==1.26.0 --hash=sha256:abc --hash=sha256:def", "1.26.0"),
        ("numpy==1.26.0\t# trailing comment", "1.26.0"),
        ("numpy==1.26.0,>=1", "1.26.0"),
        ("numpy>=1,==1.26.0", "1.26.0"),
        ("numpy==2.3.0+cu121", "2.3.0+cu121"),
        ("numpy==1.26.0rc1", "1.26.0rc1"),
    ],
)
def test_exact_pins(line: str, version: str) -> None:
    libraries = detect_requirements(line, "r.txt").libraries
    assert list(libraries) == ["numpy"]
    assert libraries["numpy"].version == version


def test_first_pin_of_a_name_wins_and_markers_are_not_evaluated() -> None:
    text = 'torch==2.3.0 ; sys_platform == "darwin"\ntorch==2.3.0+cu121 ; sys_platform == "linux"\n'
    library = detect_requirements(text, "r.txt").libraries["torch"]
    assert (library.version, library.location) == ("2.3.0", Location("r.txt", 1, "torch"))


def test_backslash_continuation_keeps_the_first_line_number() -> None:
    text = "# c\nnumpy==1.26.0 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\npeft==0.11.1\n"
    libraries = detect_requirements(text, "r.txt").libraries
    assert libraries["numpy"].location == Location("r.txt", 2, "numpy")
    assert libraries["peft"].location == Location("r.txt", 5, "peft")


def test_hash_without_space_is_part_of_the_token() -> None:
    # pip treats `#` as a comment only at the start or after whitespace.
    with pytest.raises(DetectError):
        detect_requirements("numpy==1.26.0#c\n", "r.txt")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("numpy==1.0\nthis is not a requirement\n", 2),
        ("numpy==1.0\n\nnumpy===\n", 3),
        ("WARNING: Ignoring invalid distribution\n", 1),
    ],
)
def test_invalid_lines_are_detect_errors_with_their_line(text: str, line: int) -> None:
    with pytest.raises(DetectError, match="invalid requirement") as caught:
        detect_requirements(text, "r.txt")
    assert (caught.value.file, caught.value.line) == ("r.txt", line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy==1\n", True),
        ("# c\n  Flash_attn[x] === 2\n", True),
        ("numpy>=1\n", False),
        ("# numpy==1\n", False),
        ("hello world\n", False),
    ],
)
def test_has_pins(text: str, expected: bool) -> None:
    assert has_pins(text) is expected


def _pip_fixtures(reference: str) -> Source | Unavailable:
    """Included files as pip finds them: relative to the top file's directory (fixtures/pip)."""
    path = FIXTURES / "pip" / reference
    if not path.is_file():
        return Unavailable("file not found")
    return Source(f"pip/{reference}", path.read_text(encoding="utf-8"))


def test_includes_and_constraints_are_followed_where_they_appear() -> None:
    plan = detect_requirements(
        fixture("pip/requirements-top.txt"), "pip/requirements-top.txt", _pip_fixtures
    )
    assert {name: (lib.version, lib.location) for name, lib in plan.libraries.items()} == {
        "torch": ("2.3.0+cu121", Location("pip/base.txt", 1, "torch")),
        # base.txt comes first, so its pin wins over the constraint's.
        "transformers": ("4.41.2", Location("pip/base.txt", 2, "transformers")),
        "bitsandbytes": ("0.43.1", Location("pip/constraints.txt", 1, "bitsandbytes")),
        "accelerate": ("0.30.1", Location("pip/requirements-top.txt", 4, "accelerate")),
        "peft": ("0.11.1", Location("pip/requirements-top.txt", 5, "peft")),
        "flash-attn": ("2.5.8", Location("pip/sub/more.txt", 1, "flash-attn")),
        "deepspeed": ("0.14.2", Location("pip/sub/extra.txt", 3, "deepspeed")),
    }
    assert [(n.severity, n.message, n.location) for n in plan.notes] == [
        (
            "warning",
            "-r sub/extra.txt: an include cycle, not followed again",
            Location("pip/sub/more.txt", 2, "-r"),
        ),
        (
            "warning",
            "-r missing.txt: not read (file not found)",
            Location("pip/requirements-top.txt", 7, "-r"),
        ),
    ]


def test_nested_includes_are_relative_to_the_including_file() -> None:
    asked: list[str] = []

    def resolve(reference: str) -> Source | Unavailable:
        asked.append(reference)
        texts = {"a/b.txt": "-r ../c.txt\n-c /abs/d.txt\n", "c.txt": "", "/abs/d.txt": ""}
        return Source(reference, texts[reference])

    detect_requirements("--requirement a/b.txt\n", "requirements.txt", resolve)
    assert asked == ["a/b.txt", "c.txt", "/abs/d.txt"]


@pytest.mark.parametrize(
    "line",
    ["-r base.txt", "-rbase.txt", "--requirement base.txt", "--requirement=base.txt"],
)
def test_include_spellings(line: str) -> None:
    asked: list[str] = []

    def resolve(reference: str) -> Source | Unavailable:
        asked.append(reference)
        return Source(reference, "")

    detect_requirements(line + "  # why\n", "r.txt", resolve)
    assert asked == ["base.txt"]


def test_without_a_resolver_includes_are_noted_not_followed() -> None:
    plan = detect_requirements("-c constraints.txt\n", "r.txt")
    assert [(n.severity, n.message) for n in plan.notes] == [
        ("warning", "-c constraints.txt: not followed (no resolver)")
    ]


def test_an_invalid_line_in_an_included_file_names_both_files() -> None:
    def resolve(reference: str) -> Source | Unavailable:
        return Source("base.txt", "numpy==1.0\nnot a requirement\n")

    with pytest.raises(DetectError) as caught:
        detect_requirements("# top\n-r base.txt\n", "r.txt", resolve)
    error = caught.value
    assert (error.file, error.line) == ("base.txt", 2)
    assert error.message.endswith("(included from r.txt, line 2)")
