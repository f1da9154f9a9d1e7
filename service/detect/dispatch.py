"""Choosing the reader for a file: by the kind the caller names, or by file name and content."""

from __future__ import annotations

from pathlib import PurePosixPath

from service.detect.accelerate import accelerate_plan
from service.detect.axolotl import axolotl_plan
from service.detect.classify import yaml_kind
from service.detect.deepspeed import deepspeed_plan, looks_like_deepspeed
from service.detect.document import Document
from service.detect.errors import KINDS, DetectError, NotAConfig, understood_kinds
from service.detect.jsonpos import parse_json, parse_json_object, require_object
from service.detect.llamafactory import is_v1, llamafactory_plan
from service.detect.llamafactory_v1 import llamafactory_v1_plan
from service.detect.peft import peft_plan
from service.detect.plan import Plan
from service.detect.pyproject import detect_pyproject
from service.detect.references import Resolver
from service.detect.requirements import detect_requirements, has_pins
from service.detect.torchtune import torchtune_plan
from service.detect.yamlpos import load_yaml, parse_yaml

_YAML_KINDS = ("axolotl", "llama-factory", "accelerate", "torchtune")


def detect_text(
    text: str,
    file: str,
    kind: str | None = None,
    *,
    resolve: Resolver | None = None,
    include: Resolver | None = None,
) -> Plan:
    """Techniques, settings and pins in one file's text; `file` is the name shown in locations.

    `kind` is one of `KINDS`; when None it is chosen from the file name and content:
    `*.yml`/`*.yaml` as `detect_yaml` decides; `adapter_config.json` or JSON with `peft_type`
    as PEFT, JSON with DeepSpeed's keys as DeepSpeed; `pyproject.toml`; `requirements*.txt`,
    `requirements*.in` or a `*.txt` with `==` pins as requirements. `resolve` reads the files
    that `deepspeed:` / `deepspeed_config_file` entries name; `include` reads requirements
    `-r` / `-c` includes (`resolve` when None).

    Raises NotAConfig (a DetectError) when the kind is guessed and the file is not a training
    config of any understood kind, and DetectError for a file that cannot be parsed, holds an
    invalid value, or names an unknown `kind`.
    """
    if kind is None:
        return _detect_guessed(text, file, resolve, include or resolve)
    if kind in _YAML_KINDS:
        return yaml_plan(parse_yaml(text, file), kind, text, resolve)
    if kind == "deepspeed":
        return deepspeed_plan(parse_json_object(text, file, KINDS["deepspeed"]))
    if kind == "peft":
        return peft_plan(parse_json_object(text, file, KINDS["peft"]))
    if kind == "requirements":
        return detect_requirements(text, file, include or resolve)
    if kind == "pyproject":
        return detect_pyproject(text, file)
    raise DetectError(file, None, None, f"unknown kind {kind!r}; {understood_kinds()}")


def detect_yaml(text: str, file: str, resolve: Resolver | None = None) -> Plan:
    """Techniques in a YAML training config, its tool told apart by its keys (`yaml_kind`).

    Raises NotAConfig for YAML that is no tool's training config (empty, a list at the top,
    or none of the tools' keys), and DetectError for invalid YAML, keys of several tools, or
    an invalid value.
    """
    doc = load_yaml(text, file)
    return yaml_plan(doc, yaml_kind(doc), text, resolve)


def yaml_plan(doc: Document, kind: str, text: str, resolve: Resolver | None) -> Plan:
    """The plan of a parsed YAML config read as `kind` (one of the YAML kinds of `KINDS`)."""
    if kind == "axolotl":
        return axolotl_plan(doc, resolve)
    if kind == "accelerate":
        return accelerate_plan(doc, resolve)
    if kind == "torchtune":
        return torchtune_plan(doc, text)
    if is_v1(doc):
        return llamafactory_v1_plan(doc, resolve)
    return llamafactory_plan(doc, resolve)


def _detect_guessed(
    text: str, file: str, resolve: Resolver | None, include: Resolver | None
) -> Plan:
    name = PurePosixPath(file.replace("\\", "/")).name.lower()
    if name.endswith((".yml", ".yaml")):
        return detect_yaml(text, file, resolve)
    if name.endswith(".json"):
        doc = parse_json(text, file)
        if name == "adapter_config.json":
            return peft_plan(require_object(doc, KINDS["peft"]))
        if isinstance(doc.value, dict) and "peft_type" in doc.value:
            return peft_plan(doc)
        if looks_like_deepspeed(doc.value):
            return deepspeed_plan(doc)
        message = "JSON is neither a DeepSpeed config nor a PEFT adapter config"
        raise NotAConfig(file, None, None, f"{message}; {understood_kinds()}")
    if name == "pyproject.toml":
        return detect_pyproject(text, file)
    requirements_name = name.startswith("requirements") and name.endswith((".txt", ".in"))
    if requirements_name or (name.endswith(".txt") and has_pins(text)):
        return detect_requirements(text, file, include)
    raise NotAConfig(
        file, None, None, f"cannot tell what kind of file this is; {understood_kinds()}"
    )
