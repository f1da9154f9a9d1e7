"""The check page: a pasted config read by the CLI's detectors and judged as `ftmatrix check
--server` has the service judge it (the same body, through `POST /v1/checks`' own function), or
techniques and pins picked by hand and judged the same way.

Nothing here is stored. Every problem with the input becomes one line for the page in the words
`ftmatrix check` uses for it (a DetectError's `file:line:column: message`, a PEP 440 pin, an
unknown scenario), never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name
from pydantic import ValidationError

from service.compat import rules
from service.compat import schemas as cs
from service.compat import service as compat
from service.compat.gate import plan_body
from service.compat.modelchecks import Placement, model_findings, with_findings
from service.compat.versions import BadVersion, parse_pins
from service.detect import KINDS, DetectError, NotAConfig, detect_text
from service.detect.files import DEFAULT_MAX_FILE_SIZE
from service.detect.plan import DetectNote
from service.errors import InvalidInput, NotFound
from service.snapshot import Snapshot

NAMES = {
    "axolotl": "axolotl.yml",
    "llama-factory": "llamafactory.yaml",
    "accelerate": "accelerate.yaml",
    "torchtune": "torchtune.yaml",
    "deepspeed": "ds_config.json",
    "peft": "adapter_config.json",
    "requirements": "requirements.txt",
    "pyproject": "pyproject.toml",
}
"""The file name a pasted config is shown under when its kind is chosen and no name given."""

KIND_NAMES = KINDS
"""The kinds of file the paste form offers, described (the detectors' own list)."""

MAX_PINS = 500


@dataclass(slots=True)
class Outcome:
    """What one check produced: a report (None when it could not run), the reasons it could not
    (or could only partly) run, a skipped file's reason, the readers' notes, and for a pasted
    config its lines with the findings and errors that point at each."""

    report: cs.CheckReport | None = None
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    notes: list[DetectNote] = field(default_factory=list)
    name: str = ""
    lines: list[str] = field(default_factory=list)
    findings_at: dict[int, list[cs.FindingOut]] = field(default_factory=dict)
    errors_at: dict[int, list[str]] = field(default_factory=dict)

    @property
    def plan_wide(self) -> list[cs.FindingOut]:
        """Findings that point at no line of the pasted file."""
        if self.report is None:
            return []
        placed = {id(f) for found in self.findings_at.values() for f in found}
        return [f for f in self.report.findings if id(f) not in placed]


def _scenario_ids(snap: Snapshot, values: Sequence[str], errors: list[str]) -> list[str]:
    ids: list[str] = []
    for value in values:
        found = snap.find_scenario(value)
        if found is None:
            guess = compat.catalog_of(snap).closest_scenario(value)
            hint = f"; did you mean {guess!r}?" if guess else ""
            errors.append(f"unknown scenario {value!r}{hint}")
        elif found.id not in ids:
            ids.append(found.id)
    return ids


def paste_check(
    snap: Snapshot, text: str, name: str, kind: str, scenarios: Sequence[str]
) -> Outcome:
    """Read `text` as the file `name` (of `kind`, or guessed when empty) and check it."""
    kind = kind.strip()
    name = name.strip() or NAMES.get(kind, "config.yml")
    out = Outcome(name=name, lines=text.splitlines())
    if kind and kind not in KINDS:
        out.errors.append(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        return out
    if not text.strip():
        out.errors.append(f"{name}: the pasted text is empty")
        return out
    if len(text.encode()) > DEFAULT_MAX_FILE_SIZE:
        out.errors.append(f"{name}: larger than {DEFAULT_MAX_FILE_SIZE} bytes")
        return out
    scenario_ids = _scenario_ids(snap, scenarios, out.errors)
    try:
        plan = detect_text(text, name, kind or None)
        parse_pins(plan.libraries.values())
    except NotAConfig as exc:
        out.skipped = exc.message
        return out
    except DetectError as exc:
        out.errors.append(str(exc))
        if exc.line is not None:
            out.errors_at.setdefault(exc.line, []).append(exc.message)
        return out
    except BadVersion as exc:
        library = plan.libraries.get(exc.library)
        line = library.location.line if library and library.location else None
        out.errors.append(f"{name}:{line}: {exc}" if line else f"{name}: {exc}")
        if line is not None:
            out.errors_at.setdefault(line, []).append(str(exc))
        return out
    except RecursionError:
        out.errors.append(f"{name}: nested too deeply to read")
        return out
    if out.errors:
        return out
    plan.scenarios.extend(s for s in scenario_ids if s not in plan.scenarios)
    out.notes = plan.notes
    if not plan.techniques and not any(note.severity == "info" for note in plan.notes):
        out.notes.append(DetectNote("info", "no fine-tuning technique found: nothing to check"))
    unknown = compat.catalog_of(snap).knowledge.unknown_techniques(t.id for t in plan.techniques)
    if unknown:
        out.errors.append(f"revision {snap.revision} does not know {', '.join(unknown)}")
        return out
    if plan.techniques:
        # Exactly what `ftmatrix check --server` sends for these files, judged as the API does.
        out.report = _judge(snap, plan_body(plan), out.errors)
        if out.report is None:
            return out
    else:
        # The API takes no plan without a technique; the CLI then checks the data itself.
        try:
            report = rules.check_plan(compat.knowledge_for(snap, plan.scenarios), plan)
            extra = model_findings(compat.entity_document(snap), plan, Placement())
            report = with_findings(report, extra)
        except ValueError as exc:
            out.errors.append(f"cannot check the plan against revision {snap.revision}: {exc}")
            return out
        out.report = compat.report_out(report, plan)
    for finding in out.report.findings:
        lines = {x.line for x in finding.locations if x.file == name and x.line is not None}
        for line in sorted(lines):
            out.findings_at.setdefault(line, []).append(finding)
    return out


def parse_pin_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """`name==version` lines (blank lines and `#` comments skipped): pins and the errors."""
    pins: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        library, sep, version = line.partition("==")
        if not sep or not library.strip() or not version.strip():
            errors.append(f"pins line {number}: {raw.strip()!r} is not a pin; write name==version")
            continue
        pins[canonicalize_name(library.strip())] = version.strip()
    if len(pins) > MAX_PINS:
        errors.append(f"at most {MAX_PINS} pins")
    return pins, errors


def pick_check(
    snap: Snapshot, techniques: Sequence[str], scenarios: Sequence[str], pins: str
) -> Outcome:
    """Check techniques, scenarios and pins as `POST /v1/checks` would."""
    out = Outcome()
    libraries, out.errors = parse_pin_lines(pins)
    chosen = [t for t in dict.fromkeys(techniques) if t.strip()]
    if not chosen:
        out.errors.append("pick at least one technique")
    if out.errors:
        return out
    body: dict[str, Any] = {
        "techniques": chosen,
        "scenarios": [s for s in scenarios if s.strip()],
        "libraries": libraries,
    }
    out.report = _judge(snap, body, out.errors)
    return out


def _judge(snap: Snapshot, body: dict[str, Any], errors: list[str]) -> cs.CheckReport | None:
    """`POST /v1/checks` with `body`, in process; its refusals become lines in `errors`."""
    try:
        return compat.check(snap, cs.CheckRequest.model_validate(body))
    except ValidationError as exc:
        errors.extend(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
    except (InvalidInput, NotFound) as exc:
        # The API's sentence, then one line per value it names (each with its closest id).
        errors.append(exc.detail)
        details: list[dict[str, Any]] = exc.extra.get("errors") or []
        for detail in details:
            guess = detail.get("did_you_mean")
            hint = f"; did you mean {guess!r}?" if guess else ""
            errors.append(f"{detail.get('message', exc.detail)}{hint}")
    return None
