"""The plan checks that know where the job runs: its model, its offering and its GPU.

`model_findings` adds the offering rules (FTM301-FTM304, `service.offerings.rules`) and the fit
rules (FTM401-FTM403, `service.compat.fit`) to what `rules.check_plan` found, from the snapshot
document's `models`, `hardware`, `platforms` and `offerings` lists. The offline CLI passes the
document it read, the API the document of its snapshot, so both give the same findings.
`problems` validates what the caller was told (an unknown offering or GPU) before checking.
Pure: no I/O, no web. The estimator is imported only when a GPU is named: `ftmatrix check`
without `--gpu` starts without it (CLI start-up is paid on every CI run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.compat.findings import Finding, Outcome, Report
from service.compat.rules import finding_order
from service.detect.plan import Plan, PlannedModel
from service.offerings.rules import OfferingKnowledge, check_model

ADAPTER_TECHNIQUES = ("qlora", "dora", "lora", "peft")
"""The plan techniques judged against an offering's techniques, most specific first: only the
most specific ones the plan uses are judged (a QLoRA plan uses LoRA through PEFT, but QLoRA is
what an offering must offer). Parallelism (DeepSpeed, ZeRO, FSDP) is not judged: the offerings'
data lists it for some offerings only, so its absence elsewhere says nothing."""


def _adapter_techniques(ids: set[str]) -> list[str]:
    specific = [t for t in ADAPTER_TECHNIQUES[:2] if t in ids]
    return specific or [t for t in ADAPTER_TECHNIQUES[2:] if t in ids][:1]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the plan is to run, as the caller was told: `model` (a catalog id, alias or Hugging
    Face repo id; None: the model the configs name), `offering` (an offering or a platform) and
    `hardware` with `gpus` (the fit check runs only when `hardware` is given)."""

    model: str | None = None
    offering: str | None = None
    hardware: str | None = None
    gpus: int | None = None

    @property
    def asked(self) -> bool:
        """Whether anything beyond the configs was given."""
        return any(v is not None for v in (self.model, self.offering, self.hardware, self.gpus))


@dataclass(frozen=True, slots=True)
class Problem:
    """A value of the placement that the data does not know: which field, why, what is allowed."""

    field: str
    message: str
    allowed: tuple[str, ...]


def problems(
    document: Mapping[str, Any],
    placement: Placement,
    knowledge: OfferingKnowledge | None = None,
) -> list[Problem]:
    """What is wrong with `placement` against `document`: an unknown offering or GPU, a GPU
    count below 1, or a GPU count without a GPU. `knowledge`: the document's, if the caller
    keeps it (else it is read from `document`)."""
    found: list[Problem] = []
    knowledge = knowledge or OfferingKnowledge.from_document(document)
    if placement.offering is not None and not knowledge.offerings_for(placement.offering):
        allowed = (*knowledge.offerings, *knowledge.platforms)
        found.append(
            Problem("offering", f"unknown offering or platform {placement.offering!r}", allowed)
        )
    hardware = _hardware(document)
    if placement.hardware is not None and hardware_id(hardware, placement.hardware) is None:
        allowed = tuple(str(h["id"]) for h in hardware)
        found.append(Problem("hardware", f"unknown hardware {placement.hardware!r}", allowed))
    if placement.gpus is not None and placement.gpus < 1:
        found.append(Problem("gpus", "must be at least 1", ()))
    elif placement.gpus is not None and placement.hardware is None:
        found.append(Problem("gpus", "a GPU count needs the GPU (hardware) it counts", ()))
    return found


def model_findings(
    document: Mapping[str, Any],
    plan: Plan,
    placement: Placement = Placement(),
    knowledge: OfferingKnowledge | None = None,
) -> list[Finding]:
    """FTM301-FTM304 for the plan's model (and offering, when named) and FTM401-FTM403 when a
    GPU is named. The placement is assumed valid (see `problems`). `knowledge`: as for
    `problems`."""
    if placement.model:
        # The model named by the caller replaces the configs' one, location and all, as
        # `plan_body` sends it to the API.
        plan = replace(plan, model=PlannedModel(placement.model))
    knowledge = knowledge or OfferingKnowledge.from_document(document)
    ids = {t.id for t in plan.techniques}
    techniques = _adapter_techniques(ids)
    findings = check_model(knowledge, plan.model, techniques, placement.offering)
    if placement.hardware is not None:
        from service.compat.fit import FitTarget, fit_findings

        hardware = _hardware(document)
        models = [m for m in document.get("models") or () if isinstance(m, Mapping)]
        target = FitTarget(hardware_id(hardware, placement.hardware) or placement.hardware,
                           placement.gpus)  # fmt: skip
        findings += fit_findings(models, hardware, plan, target)
    return findings


def _hardware(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [h for h in document.get("hardware") or () if isinstance(h, Mapping)]


def hardware_id(hardware: Sequence[Mapping[str, Any]], value: str) -> str | None:
    """The id of the hardware `value` names: its id, an alias or its name, case-insensitive
    (ids win), as `service.estimates.entities.lookup` reads them."""
    key = value.casefold()
    for record in hardware:
        if str(record["id"]).casefold() == key:
            return str(record["id"])
    for record in hardware:
        names = (*record.get("aliases", ()), record.get("name") or "")
        if any(str(n).casefold() == key for n in names if n):
            return str(record["id"])
    return None


def with_findings(report: Report, extra: Iterable[Finding]) -> Report:
    """`report` with `extra` findings added, ordered as `rules.check_plan` orders them, and
    its verdict recomputed (fail on any error, warn on any warning, else pass)."""
    ordered: Sequence[Finding] = sorted({*report.findings, *extra}, key=finding_order)
    severities = {f.severity for f in ordered}
    verdict: Outcome = (
        "fail" if "error" in severities else "warn" if "warning" in severities else "pass"
    )
    return Report(verdict, report.revision, tuple(ordered))
