"""Plan checks that know the model and the offering: pure functions over the snapshot document.

`check_model` takes the plan's model (a `PlannedModel`: a Hugging Face repo id, a path or a
builder name, mapped to a catalog model through the models' aliases), the techniques the plan
uses and, optionally, the offering (or platform) it names, and returns `Finding`s as compat's
rules do. It reads the `models`, `platforms` and `offerings` lists of the snapshot document
(`GET /v1/export`, service/data/snapshot.json), so the CLI runs it offline. No I/O, no web.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from service.compat.findings import Finding, Rule
from service.detect.plan import PlannedModel

MODEL_RETIRED = "FTM301"
OFFERING_CANNOT_TUNE_MODEL = "FTM302"
OFFERING_LACKS_TECHNIQUE = "FTM303"
MODEL_NOT_IN_CATALOG = "FTM304"

OFFERING_RULES: Mapping[str, Rule] = MappingProxyType({
    MODEL_RETIRED: Rule(
        "model-retired", "warning",
        "The plan's base model is retired or deprecated where the catalog tracks it.",
        "The model's lifecycle in the data is `retired` or `deprecated`; the message gives the "
        "date and where the status holds (e.g. the Microsoft Foundry model catalog).",
        "Move to the replacement the finding names, or confirm your platform still serves it.",
    ),
    OFFERING_CANNOT_TUNE_MODEL: Rule(
        "offering-cannot-tune-model", "error",
        "The offering the plan names cannot fine-tune its base model.",
        "The offering lists the model as not supported or retired there (with the date), or "
        "does not list it and fine-tunes no model beyond its list.",
        "Pick an offering that lists the model (`GET /v1/where?model=...`), or another model.",
    ),
    OFFERING_LACKS_TECHNIQUE: Rule(
        "offering-lacks-technique", "error",
        "The offering the plan names does not offer one of its techniques.",
        "A technique of the plan is not among the offering's techniques in the data.",
        "Use a technique the offering offers, or an offering that offers this one.",
    ),
    MODEL_NOT_IN_CATALOG: Rule(
        "model-not-in-catalog", "info",
        "The plan's base model is not in the catalog, so model checks were skipped.",
        "No catalog model has this id or alias (Hugging Face repo ids are aliases).",
        "Nothing to fix; add the model to the data if checks should cover it.",
    ),
})  # fmt: skip
"""The rules of this module, in the shape of `service.compat.findings.RULES`."""


@dataclass(frozen=True)
class OfferingKnowledge:
    """The document's models, platforms and offerings, with look-ups by any spelling."""

    models: Mapping[str, Mapping[str, Any]]
    platforms: Mapping[str, Mapping[str, Any]]
    offerings: Mapping[str, Mapping[str, Any]]
    model_spellings: Mapping[str, str] = field(repr=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> OfferingKnowledge:
        """From a snapshot document; a document without these lists reads as empty."""
        models = {m["id"]: m for m in document.get("models", ())}
        spellings: dict[str, str] = {}
        for m in models.values():
            for spelling in (*m.get("aliases", ()), m.get("name") or ""):
                if spelling:
                    spellings.setdefault(str(spelling).casefold(), m["id"])
        for ident in models:
            spellings[ident.casefold()] = ident
        return cls(
            models=models,
            platforms={p["id"]: p for p in document.get("platforms", ())},
            offerings={o["id"]: o for o in document.get("offerings", ())},
            model_spellings=spellings,
        )

    def model(self, name: str) -> str | None:
        """The catalog model for a plan's model name: id, alias or name, case-insensitive; a
        local path ending in a known repo name (`models/Phi-3-mini-4k-instruct`) counts too."""
        found = self.model_spellings.get(name.casefold())
        if found is None and "/" in name:
            found = self.model_spellings.get(name.rstrip("/").rsplit("/", 1)[-1].casefold())
        return found

    def offerings_for(self, value: str) -> list[Mapping[str, Any]]:
        """The offerings an `--offering` value names: an offering id or name, or a platform
        (id, alias or old name), which stands for every offering on it. Empty when unknown."""
        key = value.casefold()
        for o in self.offerings.values():
            if key in (o["id"].casefold(), str(o.get("name", "")).casefold()):
                return [o]
        for p in self.platforms.values():
            if key in (p["id"].casefold(), *(a.casefold() for a in p.get("aliases", ()))):
                return [o for o in self.offerings.values() if o.get("platform") == p["id"]]
        return []


def _finding(rule: str, message: str, evidence: Sequence[str], fix: str | None = None,
             techniques: Sequence[str] = ()) -> Finding:  # fmt: skip
    return Finding(
        rule=rule,
        severity=OFFERING_RULES[rule].severity,
        message=message,
        techniques=tuple(techniques),
        evidence=tuple(dict.fromkeys(evidence)),
        fix=fix,
    )


def _lifecycle(model_id: str, model: Mapping[str, Any]) -> list[Finding]:
    life = model.get("lifecycle") or {}
    status = life.get("status")
    if status not in ("retired", "deprecated"):
        return []
    date = life.get("retired_on") if status == "retired" else life.get("deprecated_on")
    scope = f" in the {life['scope']}" if life.get("scope") else ""
    replacements = list(life.get("replacements") or ())
    fix = f"Move to {' or '.join(replacements)}." if replacements else None
    return [_finding(MODEL_RETIRED,
                     f"{model_id} is {status}{scope} since {date or 'an unknown date'}.",
                     life.get("sources") or (), fix)]  # fmt: skip


def _offering(o: Mapping[str, Any], model_id: str, techniques: Sequence[str]) -> list[Finding]:
    found: list[Finding] = []
    entry = next((m for m in o.get("models", ()) if m["model"] == model_id), None)
    if entry is not None and entry["status"] in ("retired", "not-supported"):
        when = f" (retired there on {entry['until']})" if entry["status"] == "retired" else ""
        found.append(_finding(OFFERING_CANNOT_TUNE_MODEL,
                              f"{o['id']} cannot fine-tune {model_id}{when}.",
                              entry.get("sources") or ()))  # fmt: skip
    elif entry is None and o.get("any_model") is None:
        found.append(_finding(OFFERING_CANNOT_TUNE_MODEL,
                              f"{o['id']} does not list {model_id} among the models it tunes.",
                              o.get("sources") or ()))  # fmt: skip
    offered = {t["technique"] for t in o.get("techniques", ())}
    for technique in techniques:
        if technique not in offered:
            found.append(_finding(
                OFFERING_LACKS_TECHNIQUE,
                f"{o['id']} does not offer {technique} (it offers {', '.join(sorted(offered))}).",
                o.get("sources") or (), techniques=(technique,)))  # fmt: skip
    return found


def check_model(
    knowledge: OfferingKnowledge,
    model: PlannedModel | None,
    techniques: Sequence[str] = (),
    offering: str | None = None,
) -> list[Finding]:
    """Findings about the plan's model and, when one is named, its offering.

    `techniques` are the plan's technique ids (compat's vocabulary). An `offering` that names
    a platform checks every offering on it and reports only when none of them fits. An unknown
    `offering` value yields nothing here: the caller rejects it as bad input (it knows the
    valid ids through `OfferingKnowledge.offerings` and `platforms`).
    """
    if model is None:
        return []
    model_id = knowledge.model(model.name)
    if model_id is None:
        return [_finding(MODEL_NOT_IN_CATALOG,
                         f"{model.name!r} is not a model in the catalog.", ())]  # fmt: skip
    findings = _lifecycle(model_id, knowledge.models[model_id])
    if offering is not None:
        judged = [_offering(o, model_id, techniques) for o in knowledge.offerings_for(offering)]
        if judged and all(judged):
            closest: list[Finding] = min(judged, key=len)
            findings += closest
    return findings
