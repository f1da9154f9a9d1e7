"""The `ftmatrix check` gate: read config files, check the plan, render the report, pick the exit.

`run_check(CheckOptions(...))` is the whole command without argparse or the process around it:
it returns what to print on stdout, the lines for stderr and the exit code, so a caller (the
CLI, a test) decides where they go.

Exit codes, as a CI step reads them:

- 0: every file read was checked and nothing reached `fail_on` (also: a valid config with no
  technique to check, which gets an info note; files that are not training configs at all,
  which are listed as skipped);
- 1: some finding is at or above `fail_on`;
- 2: a file could not be used (missing, not a regular file, too large, not UTF-8, invalid
  syntax, invalid values, a version pin that is not PEP 440; with `strict`, also a file that
  is not a training config), or the check itself could not run (unknown scenario, a snapshot
  that cannot be loaded or is too old, a server that cannot be reached or refuses the plan).

A bad file hides nothing: every file is read, the good ones are checked together and their
report is rendered in full, each bad file adds one line to `errors`, and the exit is then 2.

Only the standard library, the detectors and the pure rules are imported up front; the HTTP
client (httpx) is imported when a server is used, so an offline check starts fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.compat import output, rules
from service.compat.modelchecks import Placement, model_findings, problems, with_findings
from service.compat.versions import BadVersion, parse_pins
from service.detect.errors import DetectError, NotAConfig
from service.detect.files import DEFAULT_MAX_FILE_SIZE, FileAccess, detect_file
from service.detect.plan import DetectNote, Location, Plan

if TYPE_CHECKING:
    from service.compat.document import Catalog

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "snapshot.json"
"""The data snapshot shipped with the package, read by an offline check by default."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What `ftmatrix check` was asked to do.

    `files` are the paths as given (locations and messages show them so). `server` set means
    an online check against that ftmatrix URL (with `api_key` as bearer token); otherwise the
    check runs offline against `snapshot` (None: the shipped `SNAPSHOT`). `scenarios` are
    declared as written (ids, aliases or titles). `fmt` and `fail_on` are as
    `output.render` takes them. `root`, `allow_outside_root` and `max_file_size` go to
    `FileAccess`; `strict` makes a file that is not a training config an error.
    `step_summary` is a file the Markdown summary is appended to (GitHub Actions names it in
    $GITHUB_STEP_SUMMARY). `placement` names the model (overriding the configs'), the offering
    and the GPU with its count: the model and offering rules and, with a GPU, the fit rules
    then judge the plan (`service.compat.modelchecks`).
    """

    files: Sequence[str]
    scenarios: Sequence[str] = ()
    server: str | None = None
    api_key: str | None = None
    snapshot: Path | None = None
    fmt: str = "text"
    fail_on: rules.Threshold = "warn"
    root: Path | None = None
    allow_outside_root: bool = False
    strict: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    step_summary: Path | None = None
    placement: Placement = field(default_factory=Placement)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of a check: `output` for stdout (empty when nothing could be checked),
    `errors` for stderr (one line each, without a program-name prefix; each is a reason for
    exit 2), `warnings` for stderr that do not change the exit code, and `exit_code`."""

    exit_code: int
    output: str = ""
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class Detected:
    """The files read: one merged plan of the good ones, the skipped files with the reason,
    and one error line per bad file, all in the order the files were given."""

    plan: Plan = field(default_factory=Plan)
    read: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class GateError(Exception):
    """The check could not run at all; the message is the one line to show."""


def run_check(options: CheckOptions) -> GateResult:
    """Run `ftmatrix check` as the module docstring describes; never raises for bad input."""
    if options.root is not None and not options.root.is_dir():
        return GateResult(EXIT_ERROR, errors=(f"--root {options.root}: not a directory",))
    access = FileAccess(options.root, options.allow_outside_root, options.max_file_size)
    detected = detect_all(options.files, access, strict=options.strict)
    errors = tuple(detected.errors)
    if not detected.read and not detected.skipped:
        return GateResult(EXIT_ERROR, errors=errors)
    plan = detected.plan
    if not plan.techniques and not any(note.severity == "info" for note in plan.notes):
        plan.notes.append(DetectNote("info", "no fine-tuning technique found: nothing to check"))
    try:
        report, source = _online(plan, options) if options.server else _offline(plan, options)
        text = _render(report, options, source, plan, detected.skipped)
    except GateError as exc:
        return GateResult(EXIT_ERROR, errors=(*errors, str(exc)))
    warnings: tuple[str, ...] = ()
    if options.step_summary is not None:
        args = (options.step_summary, report, options, source, plan, detected.skipped)
        problem = _write_step_summary(*args)
        warnings = () if problem is None else (problem,)
    if errors:
        code = EXIT_ERROR
    else:
        code = EXIT_FINDINGS if rules.fail_on(report, options.fail_on) else EXIT_OK
    return GateResult(code, text, errors, warnings)


def detect_all(files: Sequence[str], access: FileAccess, *, strict: bool = False) -> Detected:
    """Read every file; see `Detected`. A file's version pins are checked here (PEP 440), so a
    bad pin is that file's error rather than a failure of the whole check."""
    detected = Detected()
    for file in files:
        try:
            plan = detect_file(Path(file), access)
        except NotAConfig as exc:
            if strict:
                detected.errors.append(f"{exc} (--strict)")
            else:
                detected.skipped.append((file, exc.message))
            continue
        except DetectError as exc:
            detected.errors.append(str(exc))
            continue
        except RecursionError:
            detected.errors.append(f"{file}: nested too deeply to read")
            continue
        except Exception as exc:  # a reader's bug must still not end in a traceback
            detected.errors.append(f"{file}: could not be read ({type(exc).__name__}: {exc})")
            continue
        try:
            parse_pins(plan.libraries.values())
        except BadVersion as exc:
            library = plan.libraries.get(exc.library)
            detected.errors.append(f"{_where(library.location if library else None, file)}: {exc}")
            continue
        detected.read.append(file)
        detected.plan.merge(plan)
    return detected


def _where(location: Location | None, file: str) -> str:
    if location is None or location.line is None:
        return location.file if location else file
    return f"{location.file}:{location.line}"


def _render(
    report: rules.Report,
    options: CheckOptions,
    source: str,
    plan: Plan,
    skipped: Sequence[tuple[str, str]],
) -> str:
    try:
        return output.render(
            report,
            options.fmt,
            files=options.files,
            source=source,
            fail_on=options.fail_on,
            plan=plan,
            skipped=skipped,
        )
    except ValueError as exc:
        raise GateError(str(exc)) from None


def _write_step_summary(
    path: Path,
    report: rules.Report,
    options: CheckOptions,
    source: str,
    plan: Plan,
    skipped: Sequence[tuple[str, str]],
) -> str | None:
    """Append the Markdown summary to `path`; the reason when that failed, else None."""
    from service.compat.formats.github import step_summary

    text = step_summary(report, plan=plan, skipped=skipped, source=source, fail_on=options.fail_on)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        return f"cannot write the step summary to {path}: {exc.strerror or exc}"
    return None


def _offline(plan: Plan, options: CheckOptions) -> tuple[rules.Report, str]:
    path = options.snapshot or SNAPSHOT
    catalog, doc = _load_catalog(path, (*options.scenarios, *plan.scenarios))
    report = _check_locally(catalog, doc, plan, options, path)
    return report, f"offline snapshot {path.name}"


def _placement_problems(doc: dict[str, Any], placement: Placement) -> None:
    """GateError for a --model/--offering/--gpu/--gpus value the data does not know."""
    flags = {"offering": "--offering", "hardware": "--gpu", "gpus": "--gpus"}
    for problem in problems(doc, placement):
        allowed = f" (allowed: {', '.join(problem.allowed)})" if problem.allowed else ""
        raise GateError(f"{flags[problem.field]}: {problem.message}{allowed}")


def _check_locally(
    catalog: Catalog,
    doc: dict[str, Any],
    plan: Plan,
    options: CheckOptions,
    snapshot: Path | str,
) -> rules.Report:
    scenarios = options.scenarios
    for value in scenarios:
        found = catalog.scenario(value)
        if found is None:
            guess = catalog.closest_scenario(value)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise GateError(f"unknown scenario {value!r}{hint}")
        if found not in plan.scenarios:
            plan.scenarios.append(found)
    unknown = catalog.knowledge.unknown_techniques(t.id for t in plan.techniques)
    if unknown:
        raise GateError(
            f"the snapshot {snapshot} does not know {', '.join(unknown)}; export a newer one"
        )
    _placement_problems(doc, options.placement)
    try:
        report = rules.check_plan(catalog.knowledge, plan)
        return with_findings(report, model_findings(doc, plan, options.placement))
    except ValueError as exc:  # ids and pins were checked above: data the rules refuse
        raise GateError(f"cannot check the plan against {snapshot}: {exc}") from None
    except (KeyError, TypeError) as exc:  # models or offerings the rules cannot read
        raise GateError(f"the snapshot {snapshot} is not usable: {exc!r}") from None


def _load_catalog(path: Path, scenarios: Sequence[str]) -> tuple[Catalog, dict[str, Any]]:
    """The snapshot at `path` with only the matrix cells of `scenarios` (ids, aliases or
    titles): the rules read no other cell, and the cells are what grows with the catalog.
    Cells of other scenarios are therefore not validated here. The document itself comes
    with it, without its cells (its models, hardware and offerings feed `model_findings`)."""
    from service.compat import document

    try:
        doc = json.loads(path.read_bytes())
        cells = doc.get("cells") if isinstance(doc, dict) else None
        if not isinstance(cells, list):
            return document.load(doc if isinstance(doc, dict) else {}), {}
        lean_doc = {**doc, "cells": []}
        lean = document.load(lean_doc)
        wanted = {lean.scenario(value) for value in scenarios} - {None}
        if not wanted:
            return lean, lean_doc
        kept = [c for c in cells if not isinstance(c, dict) or c.get("scenario") in wanted]
        return document.load({**doc, "cells": kept}), lean_doc
    except OSError as exc:
        raise GateError(f"cannot read the snapshot {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and DocumentError included
        raise GateError(f"the snapshot {path} is not usable: {exc}") from None


def _online(plan: Plan, options: CheckOptions) -> tuple[rules.Report, str]:
    import httpx

    from service.client import ApiError, Client
    from service.compat import document

    server = options.server or ""
    try:
        with Client(server, api_key=options.api_key) as api:
            if plan.techniques:
                plan.scenarios.extend(s for s in options.scenarios if s not in plan.scenarios)
                return api.check(plan_body(plan, options.placement)), server
            # The API takes no plan without a technique, yet declared scenarios (and the model,
            # offering and fit) must still be checked against the server's data: check the
            # server's own export locally.
            exported = api.export()
            catalog = document.load(exported)
            return _check_locally(catalog, exported, plan, options, server), server
    except ApiError as exc:
        raise GateError(f"the server refused the plan: {exc}") from None
    except (httpx.TransportError, httpx.InvalidURL) as exc:  # refused, unknown host, no URL...
        raise GateError(_unreachable(server, exc)) from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise GateError(f"{server}: {exc}") from None


def _unreachable(server: str, exc: Exception) -> str:
    """The one line for a server that gave no answer: the URL, why, and the offline way out."""
    reason = str(exc) or type(exc).__name__
    return (
        f"cannot reach the server {server} ({reason}); check the URL, or run with --offline "
        "to check against the shipped data snapshot"
    )


def plan_body(plan: Plan, placement: Placement = Placement()) -> dict[str, Any]:
    """The POST /v1/checks body of a detected plan, locations included, with the placement's
    model, offering, hardware and GPU count where given."""

    def where(location: Location | None) -> dict[str, Any]:
        if location is None:
            return {}
        return {"file": location.file, "line": location.line, "key": location.key}

    body: dict[str, Any] = {
        "techniques": [{"id": t.id, **where(t.location)} for t in plan.techniques],
        "scenarios": list(plan.scenarios),
        "libraries": {
            name: {"version": lib.version, **where(lib.location)}
            for name, lib in plan.libraries.items()
        },
        # The detected settings, so that a server judges pair requirements as offline does.
        "settings": {
            name: {
                "value": list(s.value) if isinstance(s.value, tuple) else s.value,
                "guessed": s.guessed,
                **where(s.location),
            }
            for name, s in plan.settings.items()
        },
    }
    if placement.model is not None:
        body["model"] = {"name": placement.model}
    elif plan.model is not None:
        body["model"] = {"name": plan.model.name, **where(plan.model.location)}
    for key in ("offering", "hardware", "gpus"):
        if getattr(placement, key) is not None:
            body[key] = getattr(placement, key)
    return body
