"""How CI users adopt `ftmatrix check`: the pre-commit hook and the composite GitHub Action,
judged by their ecosystems' own validators (offline), and what they match and run.

The hook's `files` pattern is measured on every file of the shared config corpus (read in place
from ../shared/corpus/MANIFEST.json) and on names of other tools' files it must leave alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "corpus"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
ACTION = ROOT / "action.yml"

# Other tools' files, some in folders or with words that look like training.
NOT_CONFIGS = [
    "docker-compose.yml",
    "docker-compose.override.yml",
    "deploy/docker-compose.prod.yaml",
    "compose.yaml",
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    "examples/.pre-commit-config.yaml",
    ".github/workflows/ci.yml",
    ".github/workflows/train.yml",
    ".github/dependabot.yml",
    ".github/ISSUE_TEMPLATE/bug.yml",
    ".github/actions/train/action.yml",
    "mkdocs.yml",
    "mkdocs.insiders.yml",
    "docs/mkdocs.yml",
    ".gitlab-ci.yml",
    ".readthedocs.yaml",
    "codecov.yml",
    ".codecov.yml",
    "environment.yml",
    "conda/environment.yaml",
    "action.yml",
    "_config.yml",
    ".circleci/config.yml",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    "pyproject.toml",
    "setup.cfg",
    "package.json",
    "tsconfig.json",
    "renovate.json",
    ".vscode/settings.json",
    "data/train.json",
    "data/train.jsonl",
    "README.md",
    "Dockerfile",
    "openapi.yaml",
    "k8s/deployment.yaml",
    "helm/values.yaml",
    "Chart.yaml",
    ".golangci.yml",
    "pnpm-lock.yaml",
    "CITATION.cff",
    "dvc.yaml",
    "config.json",
    "tokenizer_config.json",
    "generation_config.json",
    "checkpoint-500/trainer_state.json",
    "requirements.in",
    "constraints.txt",
    "fields.json",
    "records.json",
]
# Kinds of file the check reads that the corpus does not have.
CONFIGS = [
    "requirements.txt",
    "requirements-old.txt",
    "dev-requirements.txt",
    "requirements/train.txt",
    "docker/requirements.txt",
    "adapter_config.json",
    "outputs/lora-out/adapter_config.json",
    "ds_config.json",
    "configs/ds_zero3.json",
    "deepspeed/stage3.json",
    "zero3.json",
    "configs/train.yaml",
    "accelerate_config.yaml",
    "recipes/llama3/lora_single_device.yaml",
    "qlora.yml",
    "sft.yaml",
]


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    assert len(hooks) == 1
    found: dict[str, Any] = hooks[0]
    return found


def matches(path: str) -> bool:
    # pre-commit's own test: re.search of `files` on the path relative to the repo root.
    return re.compile(hook()["files"]).search(path) is not None


def run(*command: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


# --- the pre-commit hook


def test_pre_commit_validates_the_hook_manifest(tmp_path: Path) -> None:
    run(
        sys.executable, "-m", "pre_commit", "validate-manifest", HOOKS,
        env={"PRE_COMMIT_HOME": str(tmp_path)},
    )  # fmt: skip


def test_the_hook_runs_the_projects_own_command_on_one_batch() -> None:
    found = hook()
    assert (found["id"], found["entry"], found["language"]) == (
        "ftmatrix-check",
        "ftmatrix check",
        "python",
    )
    assert found["require_serial"] is True
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert scripts["scripts"]["ftmatrix"] == "service.cli:main"


def test_the_hook_leaves_other_tools_files_alone() -> None:
    assert [name for name in NOT_CONFIGS if matches(name)] == []


def test_the_hook_takes_every_kind_of_file_the_check_reads() -> None:
    assert [name for name in CONFIGS if not matches(name)] == []


def corpus() -> list[dict[str, Any]]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")
    entries: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text("utf-8"))
    return entries


def test_the_hook_matches_every_training_config_of_the_corpus() -> None:
    entries = corpus()
    training = [e["file"] for e in entries if e.get("training", True)]
    assert len(training) == 180
    assert [f for f in training if not matches(f)] == []
    # By name alone (as if each file sat at a repository's root) most still match.
    by_name = [f for f in training if matches(f.rsplit("/", 1)[-1])]
    assert len(by_name) / len(training) >= 0.9
    # Each format the corpus has is matched, DeepSpeed JSON and Accelerate YAML included.
    formats = {e["format"] for e in entries if e.get("training", True) and matches(e["file"])}
    assert formats >= {"axolotl", "llamafactory", "deepspeed", "accelerate"}


def test_the_hook_pattern_is_measured_not_assumed() -> None:
    """Not-for-training files of the corpus (inference, export) sit among training ones with
    the same words: the pattern takes them, and `ftmatrix check` judges them, not pre-commit."""
    others = [e["file"] for e in corpus() if not e.get("training", True)]
    assert len(others) == 5
    assert all(matches(f) for f in others)


# --- the GitHub Action


def action() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return found


def test_check_jsonschema_validates_the_action_against_githubs_schema() -> None:
    out = run(
        sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
        ACTION,
    )  # fmt: skip
    assert "ok -- validation done" in out


def test_the_action_is_composite_with_the_documented_inputs() -> None:
    found = action()
    assert found["runs"]["using"] == "composite"
    inputs = found["inputs"]
    assert list(inputs) == ["files", "fail-on", "server", "snapshot", "format"]
    assert inputs["files"]["required"] is True
    assert (inputs["fail-on"]["default"], inputs["format"]["default"]) == ("warn", "github")
    assert inputs["server"]["default"] == inputs["snapshot"]["default"] == ""
    assert set(found["outputs"]) == {"report", "exit-code"}


def test_the_action_installs_itself_and_splices_no_input_into_a_script() -> None:
    steps = action()["runs"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install ftmatrix")
    assert (
        '-m pip install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH"' in install["run"]
    )
    for step in steps:
        # An expression inside `run` is pasted into the script before bash reads it.
        assert "${{" not in step.get("run", ""), step["name"]


def check_script() -> str:
    steps = action()["runs"]["steps"]
    script: str = next(s for s in steps if s.get("id") == "check")["run"]
    return script


STUB = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$STUB_ARGS"
echo "::warning title=stub::printed by the stub"
exit "${STUB_EXIT:-0}"
"""


def run_check(tmp_path: Path, **inputs: str) -> tuple[int, list[str], str, dict[str, str]]:
    """Run the Action's check step as the runner does (bash -eo pipefail) with a stub ftmatrix.

    Returns the exit code, the stub's arguments, the step's stdout and its outputs.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ftmatrix").write_text(STUB)
    (bin_dir / "ftmatrix").chmod(0o755)
    script = tmp_path / "check.sh"
    script.write_text(check_script())
    output = tmp_path / "output"
    output.write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FTM_BIN": str(bin_dir),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "STUB_ARGS": str(tmp_path / "args"),
        "STUB_EXIT": inputs.pop("exit", "0"),
        "FTM_INPUT_FAIL_ON": "warn",
        "FTM_INPUT_SERVER": "",
        "FTM_INPUT_SNAPSHOT": "",
        "FTM_INPUT_FORMAT": "github",
    }
    env.update({f"FTM_INPUT_{k.upper()}": v for k, v in inputs.items()})
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    args_file = tmp_path / "args"
    args = args_file.read_text().splitlines() if args_file.exists() else []
    outputs = dict(x.split("=", 1) for x in output.read_text().splitlines())
    return done.returncode, args, done.stdout, outputs


def test_the_check_step_passes_inputs_as_arguments_and_expands_globs(tmp_path: Path) -> None:
    (tmp_path / "configs" / "a").mkdir(parents=True)
    for name in ("configs/a/lora.yml", "configs/b.yml", "requirements.txt"):
        (tmp_path / name).write_text("")
    code, args, stdout, outputs = run_check(
        tmp_path, files="configs/**/*.yml\n  requirements.txt ", fail_on="fail"
    )
    assert code == 0
    assert args == [
        "check", "--format", "github", "--fail-on", "fail", "--",
        "configs/a/lora.yml", "configs/b.yml", "requirements.txt",
    ]  # fmt: skip
    # Annotations reach the log; the report file and exit code are outputs.
    assert "::warning title=stub::printed by the stub" in stdout
    assert outputs == {"report": str(tmp_path / "ftmatrix-report.txt"), "exit-code": "0"}


def test_the_check_step_chooses_server_or_snapshot(tmp_path: Path) -> None:
    _, args, _, _ = run_check(tmp_path, files="a.yml", server="https://ftm.example.org")
    assert args[5:8] == ["--server", "https://ftm.example.org", "--"]
    _, args, _, _ = run_check(tmp_path, files="a.yml", snapshot="snap shot.json")
    assert args[5:9] == ["--offline", "--snapshot", "snap shot.json", "--"]
    code, _, stdout, _ = run_check(tmp_path, files="a.yml", server="u", snapshot="s")
    assert code == 2
    assert "::error title=ftmatrix::give either the server or the snapshot input" in stdout


def test_the_check_step_fails_as_the_check_does_and_keeps_reports_in_a_file(
    tmp_path: Path,
) -> None:
    code, args, stdout, outputs = run_check(tmp_path, files="a.yml", format="sarif", exit="1")
    assert code == 1
    assert args[:3] == ["check", "--format", "sarif"]
    report = Path(outputs["report"])
    assert report.name == "ftmatrix-report.sarif"
    assert "printed by the stub" in report.read_text()
    assert "::warning" not in stdout  # a SARIF report is a file, not log lines
    assert outputs["exit-code"] == "1"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, args, stdout, _ = run_check(empty, files="  \n ")
    assert (code, args) == (2, [])
    assert "the files input names no file" in stdout
