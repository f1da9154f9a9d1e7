"""`ftmatrix check` as CI runs it: exit codes, every output format, online and offline alike."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.cli import SNAPSHOT, _export_from_database
from service.config import PROJECT_ROOT
from tests.conftest import LiveServer

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
    caveat = next(f for f in body["findings"] if f["rule"] == "FTM104")
    assert "qlora" in caveat["techniques"]
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
    empty = tmp_path / "requirements.txt"
    empty.write_text("numpy==2.0.0\n")
    assert ftmatrix("check", empty, "--offline").returncode == 2


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
    for pins in (OLD_PINS, NEW_PINS):
        args = ("check", CONFIG, pins, "--scenario", "reduce-memory", "--format", "json")
        online = ftmatrix(*args, "--server", server.url)
        offline = ftmatrix(*args, "--offline", "--snapshot", exported)
        assert online.returncode == offline.returncode
        assert findings(online) == findings(offline)
        assert json.loads(online.stdout)["revision"] == json.loads(offline.stdout)["revision"]


def test_unreachable_server_is_exit_2() -> None:
    result = ftmatrix("check", CONFIG, "--server", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "ftmatrix:" in result.stderr


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
