"""`ftmatrix check` as CI runs it: exit codes, every output format, online and offline alike,
hostile files, and a start-up that imports only what an offline check needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.cli import SNAPSHOT, _export_from_database
from service.config import PROJECT_ROOT
from tests.conftest import LiveServer, free_port

EXAMPLE = PROJECT_ROOT / "examples" / "axolotl-qlora-zero3"
CONFIG = EXAMPLE / "config.yml"
OLD_PINS = EXAMPLE / "requirements-old.txt"
NEW_PINS = EXAMPLE / "requirements.txt"


def ftmatrix(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), **(env or {})},
        cwd=PROJECT_ROOT,
        check=False,
        timeout=60,
    )


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return body


def test_old_pins_fail_with_sources_and_versions_to_move_to() -> None:
    result = ftmatrix("check", CONFIG, OLD_PINS, "--offline", "--format", "json")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["verdict"] == "fail"
    errors = [f for f in body["findings"] if f["severity"] == "error"]
    libraries = {lib for f in errors for lib in ("peft", "bitsandbytes") if lib in f["message"]}
    assert libraries == {"peft", "bitsandbytes"}
    peft = next(f for f in errors if "peft" in f["message"])
    assert ">=0.10.0" in peft["fix"]
    assert any("github.com/huggingface/peft" in e for e in peft["evidence"])
    files = {loc["file"] for f in errors for loc in f["locations"]}
    assert str(OLD_PINS) in files
    pin_line = next(loc["line"] for loc in peft["locations"] if loc["file"] == str(OLD_PINS))
    assert OLD_PINS.read_text().splitlines()[pin_line - 1] == "peft==0.9.0"


def test_current_pins_pass_under_fail_on_fail_and_report_caveats() -> None:
    result = ftmatrix(
        "check", CONFIG, NEW_PINS, "--offline", "--fail-on", "fail", "--format", "json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["verdict"] == "warn"
    caveats = [f for f in body["findings"] if f["rule"] == "FTM104"]
    caveat = next(f for f in caveats if "qlora" in f["techniques"])
    assert any("zero3_init_flag" in s for s in caveat["settings"])
    assert ftmatrix("check", CONFIG, NEW_PINS, "--offline").returncode == 1  # default: warn


def test_every_format_parses() -> None:
    for fmt in ("text", "json", "github", "junit", "sarif"):
        result = ftmatrix("check", CONFIG, OLD_PINS, "--offline", "--format", fmt)
        assert result.returncode == 1, (fmt, result.stderr)
        if fmt == "json":
            json.loads(result.stdout)
        elif fmt == "sarif":
            sarif = json.loads(result.stdout)
            assert sarif["version"] == "2.1.0"
            assert sarif["runs"][0]["results"]
        elif fmt == "junit":
            root = ET.fromstring(result.stdout)  # noqa: S314  (our own output)
            assert root.find(".//failure") is not None
        elif fmt == "github":
            lines = result.stdout.splitlines()
            assert any(line.startswith(f"::error file={OLD_PINS},line=") for line in lines)
        else:
            assert "FTM102" in result.stdout


def test_usage_and_file_errors_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("adapter: qlora\nload_in_4bit: [true\n")
    result = ftmatrix("check", broken, "--offline")
    assert result.returncode == 2
    assert f"{broken}:" in result.stderr
    assert ftmatrix("check", tmp_path / "missing.yml", "--offline").returncode == 2
    assert ftmatrix("check", CONFIG, "--offline", "--format", "xml").returncode == 2
    assert ftmatrix("check").returncode == 2
    unknown = ftmatrix("check", CONFIG, "--offline", "--scenario", "reduce-memmory")
    assert unknown.returncode == 2
    assert "reduce-memory" in unknown.stderr
    assert ftmatrix("check", CONFIG, "--offline", "--max-file-size", "5MB").returncode == 2


def test_nothing_to_check_passes(tmp_path: Path) -> None:
    pins = tmp_path / "requirements.txt"
    pins.write_text("numpy==2.0.0\n")
    result = ftmatrix("check", pins, "--offline")
    assert (result.returncode, result.stderr) == (0, "")
    assert "nothing to check" in result.stdout


NOT_CONFIGS = {
    "docker-compose.yml": "services:\n  api:\n    image: ftmatrix\n    ports: ['8000:8000']\n",
    ".pre-commit-config.yaml": (
        "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.9\n"
        "    hooks:\n      - id: ruff\n"
    ),
    ".github/workflows/ci.yml": (
        "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    ),
}


def test_files_that_are_not_training_configs_are_skipped(tmp_path: Path) -> None:
    paths = []
    for name, text in NOT_CONFIGS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    alone = ftmatrix("check", *paths, "--offline", "--format", "json")
    assert (alone.returncode, alone.stderr) == (0, "")
    body = json.loads(alone.stdout)
    assert [s["file"] for s in body["plan"]["skipped"]] == [str(p) for p in paths]
    mixed = ftmatrix("check", *paths, CONFIG, OLD_PINS, "--offline", "--format", "json")
    assert mixed.returncode == 1
    assert "FTM102" in {f["rule"] for f in findings(mixed)}
    strict = ftmatrix("check", *paths, CONFIG, "--offline", "--strict")
    assert strict.returncode == 2
    lines = strict.stderr.splitlines()
    assert len(lines) == len(paths)
    assert all(line.endswith("(--strict)") for line in lines)
    assert "FTM104" in strict.stdout  # CONFIG is still reported


def test_bad_files_are_one_line_each_after_the_report(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yml"
    zero.symlink_to("/dev/zero")
    big = tmp_path / "big.yml"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    bomb = tmp_path / "bomb.yml"
    lines = ["adapter: lora", 'a0: &a0 ["lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    bomb.write_text("\n".join(lines) + "\n")
    result = ftmatrix(
        "check", fifo, CONFIG, zero, OLD_PINS, big, bomb, "--offline", "--format", "json"
    )
    assert result.returncode == 2
    assert "FTM102" in {f["rule"] for f in findings(result)}
    errors = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in errors] == [str(p) for p in (fifo, zero, big)] + [
        f"{bomb}:{errors[3].split(':')[2]}"
    ]
    assert "a FIFO, not a regular file" in errors[0]
    assert "a character device, not a regular file" in errors[1]
    assert "larger than the 5 MiB limit" in errors[2]
    assert "YAML aliases expand" in errors[3]
    assert "Traceback" not in result.stderr


def test_max_file_size(tmp_path: Path) -> None:
    small = ftmatrix("check", CONFIG, "--offline", "--max-file-size", "512")
    assert small.returncode == 2
    assert f"{CONFIG}: larger than the 512 bytes limit" in small.stderr
    assert ftmatrix("check", CONFIG, "--offline", "--max-file-size", "1MiB").returncode == 1
    bad = ftmatrix("check", CONFIG, "--offline", "--max-file-size", "lots")
    assert bad.returncode == 2
    assert "'lots' is not a size" in bad.stderr


def test_help_describes_references_limits_and_exit_codes() -> None:
    top = ftmatrix("--help")
    assert top.returncode == 0
    assert "check training configs" in top.stdout
    text = ftmatrix("check", "--help").stdout
    for flag in ("--root DIR", "--allow-outside-root", "--strict", "--max-file-size SIZE"):
        assert flag in text, flag
    assert "exit status:" in text
    assert "deepspeed_config_file" in text


def test_offline_check_imports_neither_the_web_stack_nor_the_http_client() -> None:
    code = (
        "import sys\n"
        "from service.cli import main\n"
        f"main(['check', {str(CONFIG)!r}, '--offline', '--format', 'json'])\n"
        "heavy = {'httpx', 'pydantic', 'pydantic_settings', 'fastapi', 'sqlalchemy', 'starlette'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.stderr.strip() == "[]"


def test_github_step_summary_is_written(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = ftmatrix(
        "check", CONFIG, OLD_PINS, "--offline", env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.returncode == 1
    assert summary.read_text(encoding="utf-8").startswith("### ftmatrix check: fail")


def test_declared_scenarios_offline() -> None:
    result = ftmatrix(
        "check", CONFIG, NEW_PINS, "--offline", "--scenario", "Reducing memory usage",
        "--scenario", "data-parallel-memory", "--format", "json",
    )  # fmt: skip
    rules = {(f["rule"], f["scenario"]) for f in findings(result)}
    assert ("FTM201", "data-parallel-memory") in rules
    assert result.returncode == 1


def test_online_and_offline_give_the_same_findings(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server()
    exported = tmp_path / "snapshot.json"
    assert ftmatrix("export", "--server", server.url, "--output", exported).returncode == 0
    # The file options mean the same online: they only change what is read.
    file_options = ("--root", PROJECT_ROOT, "--strict", "--max-file-size", "1MiB")
    for pins in (OLD_PINS, NEW_PINS):
        args = ("check", CONFIG, pins, "--scenario", "reduce-memory", "--format", "json",
                *file_options)  # fmt: skip
        online = ftmatrix(*args, "--server", server.url)
        offline = ftmatrix(*args, "--offline", "--snapshot", exported)
        assert online.returncode == offline.returncode
        assert findings(online) == findings(offline)
        assert json.loads(online.stdout)["revision"] == json.loads(offline.stdout)["revision"]


def test_unreachable_server_is_one_line_naming_the_url_and_offline() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # a port just freed: nothing listens there
    result = ftmatrix("check", CONFIG, "--server", url)
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ftmatrix: cannot reach the server {url} (")
    assert "--offline" in line
    # The same for a URL that is no URL at all: still one line, never a traceback.
    result = ftmatrix("check", CONFIG, "--server", "http://[::1")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("ftmatrix: cannot reach the server http://[::1 (")
    assert "--offline" in line


@pytest.mark.usefixtures("database_url")
def test_shipped_snapshot_is_the_export_of_the_migrations(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTM_DATABASE_URL", database_url)
    from service.config import get_settings

    get_settings.cache_clear()
    try:
        fresh = _export_from_database()
    finally:
        get_settings.cache_clear()
    assert json.loads(SNAPSHOT.read_text(encoding="utf-8")) == fresh, (
        "service/data/snapshot.json is stale: run `make snapshot` and commit it"
    )


def test_an_internal_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    def broken(options: object) -> None:
        raise LookupError("no such rule")

    monkeypatch.setattr("service.compat.gate.run_check", broken)
    assert main(["check", str(CONFIG), "--offline"]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "ftmatrix: internal error (LookupError: no such rule)\n",
    )
