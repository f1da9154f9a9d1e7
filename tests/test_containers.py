"""The Dockerfile and compose file cannot be run here (no Docker engine): validate them instead."""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from service.cli import build_parser
from service.config import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")


def compose_schema() -> dict[str, Any]:
    # check-jsonschema vendors the Compose specification's JSON schema (with its licence).
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_compose_file_matches_the_compose_specification() -> None:
    jsonschema.validate(COMPOSE, compose_schema())
    broken = {**COMPOSE, "services": {"api": {"image": "x", "restart": 3, "nonsense": True}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_compose_runs_the_service_on_postgres_with_healthchecks_and_a_volume() -> None:
    services = COMPOSE["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert "healthcheck" in services["db"]
    assert "healthcheck" in services["api"]
    assert services["bootstrap"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert (
        services["api"]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    )
    assert "postgresql+psycopg://" in services["api"]["environment"]["FTM_DATABASE_URL"]
    assert "FTM_ADMIN_KEY" in services["bootstrap"]["environment"]
    assert "ftmatrix-pgdata" in COMPOSE["volumes"]
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]


def project_commands() -> list[list[str]]:
    """Every command the compose file and the Dockerfile run in the project's image."""
    commands: list[list[str]] = []
    for service in COMPOSE["services"].values():
        if service.get("image", "").startswith("ftmatrix") or "build" in service:
            if "command" in service:
                commands.append(list(service["command"]))
            if "healthcheck" in service:
                commands.append(list(service["healthcheck"]["test"][1:]))
    for instruction in re.findall(r"^(?:CMD|\s+CMD) (\[.*\])$", DOCKERFILE, re.MULTILINE):
        commands.append(json.loads(instruction))
    return commands


def test_every_command_exists_in_the_project() -> None:
    commands = project_commands()
    assert len(commands) >= 5
    for command in commands:
        if command[:2] == ["sh", "-c"]:
            parts = [shlex.split(p) for p in re.split(r"&&|;", command[2])]
            parts = [p[1:] if p[0] == "exec" else p for p in parts]
        else:
            parts = [command]
        for part in parts:
            if part[0] == "ftmatrix":
                build_parser().parse_args(part[1:])  # exits (SystemExit) if it does not exist
            elif part[:2] == ["python", "-c"]:
                compile(part[2], "<healthcheck>", "exec")
                assert "/readyz" in part[2]
            else:
                pytest.fail(f"unexpected command {part}")


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)) >= 2
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert user
    assert user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in DOCKERFILE
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.MULTILINE):
        for path in source.split():
            if not path.startswith("--"):
                assert (PROJECT_ROOT / path).exists(), path
