"""service.detect.files: regular files only, size limits, alias bombs, and references resolved
as the tools resolve them (root first, then beside the config; never outside the root)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from service.detect import DetectError, detect_files
from service.detect.files import (
    ALIAS_NODE_LIMIT,
    DEFAULT_MAX_FILE_SIZE,
    REFERENCE_LIMIT,
    FileAccess,
    check_yaml_aliases,
    detect_file,
    format_size,
    include_resolver,
    parse_size,
    read_text,
    reference_resolver,
)
from service.detect.plan import Plan
from service.detect.references import Source, Unavailable
from tests.detect._helpers import FIXTURES, ids, where

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
ZERO3 = '{"zero_optimization": {"stage": 3}}'
ZERO1 = '{"zero_optimization": {"stage": 1}}'


@pytest.fixture
def axolotl_dir(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "axolotl", tmp_path / "axolotl")
    return tmp_path / "axolotl"


def said(plan: Plan) -> str:
    """Everything a plan says in words: evidence and notes (the readers put a reference's
    reason in one or the other)."""
    parts = [t.evidence or "" for t in plan.techniques] + [n.message for n in plan.notes]
    return "\n".join(parts)


def finishes(action: Callable[[], object], seconds: float = 10.0) -> object:
    """Run `action` in a thread and fail if it has not returned (a FIFO read would block)."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return outcome[0]


# --- references: where they are looked up


def test_reference_is_read_from_the_root_first_then_beside_the_config(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "ds.json").write_text(ZERO1)
    config = root / "examples" / "c.yml"
    resolve = reference_resolver(config, FileAccess(root))
    beside = resolve("ds.json")
    assert beside == Source(str(config.parent / "ds.json"), ZERO1)
    (root / "ds.json").write_text(ZERO3)
    assert resolve("ds.json") == Source(str(root / "ds.json"), ZERO3)


def test_default_root_is_the_working_directory_shown_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deepspeed_configs").mkdir()
    (tmp_path / "deepspeed_configs" / "z3.json").write_text(ZERO3)
    monkeypatch.chdir(tmp_path)
    found = reference_resolver(Path("sub/c.yml"))("deepspeed_configs/z3.json")
    assert found == Source("deepspeed_configs/z3.json", ZERO3)


def test_missing_reference_names_both_places_looked(tmp_path: Path) -> None:
    config = tmp_path / "examples" / "c.yml"
    found = reference_resolver(config, FileAccess(tmp_path))("ds/zero3.json")
    assert isinstance(found, Unavailable)
    assert found.reason == (
        f"not found: looked at {tmp_path / 'ds/zero3.json'} in the root {tmp_path}"
        f" and at {config.parent / 'ds/zero3.json'} beside the config"
    )


def test_missing_reference_looked_up_once_when_the_config_is_in_the_root(
    tmp_path: Path,
) -> None:
    found = reference_resolver(tmp_path / "c.yml", FileAccess(tmp_path))("z3.json")
    assert found == Unavailable(
        f"not found: looked at {tmp_path / 'z3.json'} in the root {tmp_path}"
    )


def test_missing_deepspeed_file_is_a_warning_naming_both_places(axolotl_dir: Path) -> None:
    (axolotl_dir / "deepspeed_configs/zero3_bf16.json").unlink()
    config = axolotl_dir / "qlora.yml"
    plan = detect_files([config], root=axolotl_dir)
    assert "deepspeed" in ids(plan)
    assert where(plan)["deepspeed"] == (str(config), 55, "deepspeed")
    looked = (
        f"not found: looked at {axolotl_dir / 'deepspeed_configs/zero3_bf16.json'} in the root"
        f" {axolotl_dir}"
    )
    warnings = [n for n in plan.notes if n.severity == "warning" and looked in n.message]
    assert len(warnings) == 1, plan.notes
    assert warnings[0].location is not None
    assert warnings[0].location.line == 55
    # The stage is a guess, and nothing points into the file that was not read.
    assert plan.settings["deepspeed.zero_stage"].guessed
    files = {t.location.file for t in plan.techniques if t.location}
    assert files == {str(config)}


def test_config_and_reference_from_the_fixture_tree(axolotl_dir: Path) -> None:
    config = axolotl_dir / "qlora.yml"
    plan = detect_files([config], root=axolotl_dir)
    json_file = str(axolotl_dir / "deepspeed_configs/zero3_bf16.json")
    assert {"qlora", "deepspeed", "zero", "zero-3"} <= set(ids(plan))
    assert where(plan)["zero-3"] == (json_file, 3, "zero_optimization.stage")


def test_corpus_references_resolve_from_the_source_root() -> None:
    """Every `deepspeed:` / `deepspeed_config_file` of the corpus, resolved from its source
    root as the tools do, is the file MANIFEST.json pairs it with."""
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
    checked = 0
    for entry in manifest:
        if not entry["file"].endswith((".yml", ".yaml")) or not entry.get("pairs_with"):
            continue
        source_root = CORPUS / entry["file"].split("/")[0]
        config = CORPUS / entry["file"]
        value = yaml.safe_load(config.read_text(encoding="utf-8"))
        for key in ("deepspeed", "deepspeed_config_file"):
            reference = _find_key(value, key)
            if not isinstance(reference, str):
                continue
            found = reference_resolver(config, FileAccess(source_root))(reference)
            assert isinstance(found, Source), (entry["file"], found)
            paired = {os.path.realpath(CORPUS / p) for p in entry["pairs_with"]}
            assert os.path.realpath(found.file) in paired, (entry["file"], found.file)
            checked += 1
    assert checked >= 18, checked  # 18 such references in the corpus as recorded


def _find_key(value: object, key: str) -> object:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for child in value.values():
            found = _find_key(child, key)
            if found is not None:
                return found
    return None


# --- references: what is not read


def test_reference_outside_the_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret_zero2.json"
    outside.write_text(ZERO3)
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "inside_zero1.json").write_text(ZERO1)
    config = upload / "c.yml"
    resolve = reference_resolver(config, FileAccess(upload))
    for reference in ("../secret_zero2.json", str(outside)):
        found = resolve(reference)
        assert isinstance(found, Unavailable), reference
        assert f"is outside the root {upload}: not read (--allow-outside-root" in found.reason
    assert isinstance(resolve("inside_zero1.json"), Source)
    allowed = reference_resolver(config, FileAccess(upload, allow_outside_root=True))
    assert allowed("../secret_zero2.json") == Source(str(upload / "../secret_zero2.json"), ZERO3)


def test_absolute_system_path_is_not_read_by_default(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("base_model: m\ndeepspeed: /etc/passwd\n")
    found = reference_resolver(config, FileAccess(tmp_path))("/etc/passwd")
    if Path("/etc/passwd").exists():
        assert isinstance(found, Unavailable)
        assert "outside" in found.reason
    plan = detect_file(config, FileAccess(tmp_path))
    assert all(t.location is None or t.location.file == str(config) for t in plan.techniques)


def test_symlink_out_of_the_root_is_caught_after_resolving(tmp_path: Path) -> None:
    outside = tmp_path / "real_zero2.json"
    outside.write_text(ZERO3)
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "link_zero2.json").symlink_to(outside)
    found = reference_resolver(upload / "c.yml", FileAccess(upload))("link_zero2.json")
    assert isinstance(found, Unavailable)
    assert "outside" in found.reason


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_reference_to_a_non_regular_file_is_not_read(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "zero3.json"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    # /dev/zero is outside the root; with the root check off, the file type still refuses it.
    access = FileAccess(tmp_path, allow_outside_root=True)
    found = finishes(lambda: reference_resolver(tmp_path / "c.yml", access)("zero3.json"))
    assert isinstance(found, Unavailable)
    assert "not a regular file: not read" in found.reason


def test_urls_and_empty_references_are_not_followed(tmp_path: Path) -> None:
    resolve = reference_resolver(tmp_path / "c.yml", FileAccess(tmp_path))
    assert resolve("https://example.org/ds.json") == Unavailable("a URL, not fetched")
    assert resolve("  ") == Unavailable("an empty path")


def test_unreadable_reference_is_an_error_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "ds.json").write_bytes(b'{"a": "\xff"}')
    config = tmp_path / "c.yml"
    with pytest.raises(DetectError) as caught:
        reference_resolver(config, FileAccess(tmp_path))("ds.json")
    assert caught.value.file == str(tmp_path / "ds.json")
    assert caught.value.message == f"not UTF-8 text (referenced from {config})"


def test_broken_referenced_json_is_reported_in_that_file(axolotl_dir: Path) -> None:
    json_file = axolotl_dir / "deepspeed_configs/zero3_bf16.json"
    json_file.write_text('{\n  "zero_optimization": {\n    "stage": 3,\n  }\n}\n')
    with pytest.raises(DetectError) as caught:
        detect_files([axolotl_dir / "qlora.yml"], root=axolotl_dir)
    assert (caught.value.file, caught.value.line) == (str(json_file), 4)


# --- requirements includes


def test_includes_resolve_beside_the_including_file_not_the_root(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("torch==2.3.0\n")
    (tmp_path / "base.txt").write_text("torch==1.0.0\n")
    resolve = include_resolver(tmp_path / "reqs" / "dev.txt", FileAccess(tmp_path))
    assert resolve("base.txt") == Source(str(tmp_path / "reqs" / "base.txt"), "torch==2.3.0\n")
    missing = resolve("nope.txt")
    assert missing == Unavailable(
        f"not found: looked at {tmp_path / 'reqs' / 'nope.txt'} beside the including file"
    )
    assert isinstance(resolve("../../elsewhere.txt"), Unavailable)
    assert resolve("https://example.org/r.txt") == Unavailable("a URL, not fetched")


def test_a_cycle_of_includes_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r a.txt\n")
    resolve = include_resolver(tmp_path / "a.txt", FileAccess(tmp_path))
    found = [resolve("a.txt") for _ in range(REFERENCE_LIMIT + 1)]
    assert all(isinstance(f, Source) for f in found[:REFERENCE_LIMIT])
    assert found[-1] == Unavailable(
        f"more than {REFERENCE_LIMIT} references followed from {tmp_path / 'a.txt'}"
    )


# --- the files themselves


def spy_on_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every os.read from now on (the reads still happen)."""
    reads: list[int] = []
    real_read = os.read

    def read(fd: int, size: int) -> bytes:
        reads.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", read)
    return reads


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="cannot read: No such file or directory") as caught:
        detect_files([tmp_path / "nope.yml"])
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "nope.yml"), None)


def test_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.mkdir()
    with pytest.raises(DetectError, match=r"^.*c\.yml: a directory, not a regular file"):
        read_text(path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    os.mkfifo(path)
    outcome = finishes(lambda: read_text(path))
    assert isinstance(outcome, DetectError)
    assert outcome.message == "a FIFO, not a regular file: not read"


def test_symlink_to_a_device_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yml"
    path.symlink_to("/dev/zero")
    reads = spy_on_reads(monkeypatch)
    with pytest.raises(DetectError, match="a character device, not a regular file"):
        read_text(path)
    assert reads == []


def test_large_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: no disk used
    reads = spy_on_reads(monkeypatch)
    with pytest.raises(DetectError) as caught:
        read_text(path)
    assert caught.value.message == (
        "larger than the 5 MiB limit (52,428,800 bytes or more): not read"
        " (--max-file-size raises the limit)"
    )
    assert reads == []


def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.3.0\n")  # 13 bytes
    assert read_text(path, 13) == "torch==2.3.0\n"
    with pytest.raises(DetectError, match="larger than the 12 bytes limit"):
        read_text(path, 12)
    assert DEFAULT_MAX_FILE_SIZE == 5 * 1024 * 1024


def test_non_utf8_file_points_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"adapter: lora\nbase_model: caf\xe9\n")
    with pytest.raises(DetectError, match="not UTF-8 text") as caught:
        detect_files([path])
    assert (caught.value.line, caught.value.column) == (2, 16)


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "adapter_config.json"
    path.write_bytes(b'\xef\xbb\xbf{\n"peft_type": "LORA"\n}')
    assert read_text(path) == '{\n"peft_type": "LORA"\n}'


@pytest.mark.parametrize(
    ("text", "size"),
    [("5MiB", 5 * 1024**2), ("512KiB", 512 * 1024), ("1gib", 1024**3), ("100", 100),
     ("100B", 100), (" 2 MiB ", 2 * 1024**2)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["5MB", "5M", "", "-1", "1.5MiB", "MiB", "5 TiB"])
def test_parse_size_refuses_what_is_not_a_binary_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size: give a number of bytes, or one with"):
        parse_size(text)


def test_format_size() -> None:
    assert [format_size(n) for n in (5 * 1024**2, 512 * 1024, 1234, 1024**3)] == [
        "5 MiB", "512 KiB", "1,234 bytes", "1 GiB",
    ]  # fmt: skip


# --- YAML aliases


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "adapter: lora\n" + "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(billion_laughs())
    with pytest.raises(DetectError) as caught:
        detect_file(path, FileAccess(tmp_path))
    assert (
        caught.value.message
        == f"YAML aliases expand to more than {ALIAS_NODE_LIMIT:,} nodes: not read"
    )
    assert caught.value.line is not None
    assert 2 <= caught.value.line <= 11


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(DetectError, match="a YAML alias refers to a node that contains it"):
        check_yaml_aliases("adapter: lora\nloop: &x [1, *x]\n", "c.yml")


def test_modest_aliases_pass() -> None:
    text = "defaults: &d {lr: 1, wd: 2}\nadapter: lora\na: *d\nb: *d\n"
    check_yaml_aliases(text, "c.yml")
    check_yaml_aliases(billion_laughs(3), "c.yml")  # 1 + 9 + 81 + 729 nodes deep down: fine
    with pytest.raises(DetectError):
        check_yaml_aliases(billion_laughs(3), "c.yml", limit=500)


def test_alias_check_skips_text_without_anchors(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise AssertionError("composed")

    monkeypatch.setattr(yaml, "compose", fail)
    check_yaml_aliases("adapter: lora\nglob: '*.json'\nname: a&b\n", "c.yml")


def test_requirements_includes_are_followed_beside_each_including_file(tmp_path: Path) -> None:
    (tmp_path / "reqs" / "extra").mkdir(parents=True)
    top = tmp_path / "requirements.txt"
    top.write_text("-r reqs/base.txt\naccelerate==1.0.1\n")
    (tmp_path / "reqs" / "base.txt").write_text("-c extra/pins.txt\npeft==0.13.2\n")
    (tmp_path / "reqs" / "extra" / "pins.txt").write_text("torch==2.4.0\n")
    plan = detect_file(top, FileAccess(tmp_path))
    versions = {name: lib.version for name, lib in plan.libraries.items()}
    assert versions == {"accelerate": "1.0.1", "peft": "0.13.2", "torch": "2.4.0"}
    torch = plan.libraries["torch"].location
    assert torch is not None
    assert Path(torch.file).resolve() == (tmp_path / "reqs" / "extra" / "pins.txt").resolve()


def test_requirements_include_outside_the_root_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("torch==2.4.0\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    top = repo / "requirements.txt"
    top.write_text("-r ../outside.txt\npeft==0.13.2\n")
    plan = detect_file(top, FileAccess(repo))
    assert set(plan.libraries) == {"peft"}
    assert "outside the root" in said(plan)
    allowed = detect_file(top, FileAccess(repo, allow_outside_root=True))
    assert set(allowed.libraries) == {"peft", "torch"}
