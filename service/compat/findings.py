"""What a plan check reports: the rule registry, findings and the report.

Pure data (standard library and `service.detect.plan`); `service.compat.rules` re-exports every
name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, NamedTuple

from service.detect.plan import Location

Severity = Literal["error", "warning", "info"]
Outcome = Literal["pass", "warn", "fail"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


class Rule(NamedTuple):
    """A check: its stable kebab-case name, the severity of its findings, what it means.

    `description` is one sentence (the short description: README table, SARIF
    `shortDescription`); `full_description` says when the rule fires; `help` says what to do
    about a finding. docs/rules.md holds all three under one anchor per rule id.
    """

    name: str
    severity: Severity
    description: str
    full_description: str = ""
    help: str = ""


PAIR_INCOMPATIBLE = "FTM101"
PAIR_VERSION_UNMET = "FTM102"
PAIR_VERSION_UNVERIFIED = "FTM103"
PAIR_CAVEATS = "FTM104"
PAIR_UNKNOWN = "FTM105"
PAIR_LOW_CONFIDENCE = "FTM106"
PAIR_VERSION_BELOW_RECOMMENDED = "FTM107"
PAIR_INHERITED = "FTM108"
PAIR_REQUIREMENT_UNMET = "FTM109"
PAIR_REQUIREMENT_UNDETERMINED = "FTM110"
PAIR_REQUIREMENTS_MET = "FTM111"
PAIR_VERSIONS_NOT_GIVEN = "FTM112"
PAIR_RECOMMENDATION_DIFFERS = "FTM113"
SCENARIO_UNSUPPORTED = "FTM201"
SCENARIO_PARTIAL = "FTM202"
SCENARIO_UNKNOWN = "FTM203"
MODEL_RETIRED = "FTM301"
OFFERING_CANNOT_TUNE_MODEL = "FTM302"
OFFERING_LACKS_TECHNIQUE = "FTM303"
MODEL_NOT_IN_CATALOG = "FTM304"
FIT_EXCEEDED = "FTM401"
FIT_LOW_HEADROOM = "FTM402"
FIT_NOT_CHECKED = "FTM403"

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        PAIR_INCOMPATIBLE: Rule(
            "pair-incompatible",
            "error",
            "Two techniques of the plan are known not to combine.",
            "The data records the pair's verdict as incompatible, either for the pair itself or"
            " for its nearest parent pair (the message then says which it is inherited from).",
            "Use one of the two techniques, not both: the fix line names them. The evidence"
            " lines cite the sources the fact rests on.",
        ),
        PAIR_VERSION_UNMET: Rule(
            "pair-version-unmet",
            "error",
            "A pinned library version misses the minimum at which a pair of the plan works.",
            "The pair is recorded as compatible, or compatible with caveats, from a minimum"
            " version of a library on, and the plan pins an older version of that library"
            " (in a requirements file or pip freeze output).",
            "Change the pin as the fix line says: it names the versions the pair needs, and the"
            " recommended one where one is recorded. The first location is the pin.",
        ),
        PAIR_VERSION_UNVERIFIED: Rule(
            "pair-version-unverified",
            "warning",
            "A pair needs minimum library versions the plan does not pin, so they could not be"
            " verified.",
            "The pair works only from a minimum version of a library on, and no file given to"
            " the check pins that library, so the installed version is unknown.",
            "Pin the libraries the fix line names, at or above the versions it gives, and pass"
            " that requirements file to ftmatrix check with the configs.",
        ),
        PAIR_CAVEATS: Rule(
            "pair-caveats",
            "warning",
            "A pair combines only with caveats or required settings.",
            "The pair is recorded as combining only with caveats, or as compatible only with"
            " settings it requires. The setting lines list the required settings, the detail"
            " lines the fact's note and caveats.",
            "Apply every required setting listed under the finding and read the caveats; the"
            " evidence lines cite where they are documented.",
        ),
        PAIR_UNKNOWN: Rule(
            "pair-unknown",
            "warning",
            "Nothing is known about a pair, so it is not verified.",
            "The data holds no fact about the pair nor about any parent pair, or its fact"
            " records the verdict as unknown. A missing fact is never guessed.",
            "Verify the combination yourself (for example with a short trial run) before relying"
            " on it. Under --fail-on fail, warnings do not fail the check.",
        ),
        PAIR_LOW_CONFIDENCE: Rule(
            "pair-low-confidence",
            "warning",
            "A pair is recorded as compatible, but with low confidence.",
            "The pair's fact says compatible, but its confidence is low. A compatible pair is"
            " otherwise silent; low confidence never lowers the severity of another finding.",
            "Verify the combination before relying on it; the evidence lines list the sources"
            " behind the fact.",
        ),
        PAIR_VERSION_BELOW_RECOMMENDED: Rule(
            "pair-version-below-recommended",
            "info",
            "A pinned library version meets a pair's minimum but not its recommended version.",
            "The plan pins a library version at or above the minimum at which the pair works,"
            " but below the version recorded as recommended for the pair.",
            "Consider the upgrade the fix line names. A note never fails the check.",
        ),
        PAIR_INHERITED: Rule(
            "pair-inherited",
            "info",
            "A pair is judged compatible only from a fact about a parent technique.",
            "The pair has no fact of its own and takes the fact of its nearest parent pair"
            " (QLoRA is a LoRA, ZeRO-3 is a ZeRO, ZeRO is part of DeepSpeed), with its confidence"
            " capped at medium. The message names the parent pair.",
            "Nothing has to change: the note says that this exact pair was not verified. A note"
            " never fails the check.",
        ),
        PAIR_REQUIREMENT_UNMET: Rule(
            "pair-requirement-unmet",
            "error",
            "A setting of the plan violates what a pair of the plan requires.",
            "The pair's fact lists a structured requirement on a setting (for example"
            " fsdp.use_orig_params = false for QLoRA with FSDP), and the setting read from the"
            " config has another value. The first location is the offending setting's line.",
            "Change the setting as the fix line says; the detail line says why the pair needs"
            " it and the evidence lines cite where that is documented.",
        ),
        PAIR_REQUIREMENT_UNDETERMINED: Rule(
            "pair-requirement-undetermined",
            "warning",
            "Whether the plan meets a pair's required setting cannot be told from its files.",
            "The pair's fact lists a structured requirement on a setting that no file given to"
            " the check sets, or whose value was only guessed (from a file name, say), so the"
            " check cannot tell whether it is met.",
            "Add the setting the fix line names to the config (or pass the config that sets"
            " it, such as the DeepSpeed JSON or Accelerate config the training config uses).",
        ),
        PAIR_REQUIREMENTS_MET: Rule(
            "pair-requirements-met",
            "info",
            "A pair's required settings are all met by the plan.",
            "The pair's fact lists structured requirements and every one was read from the"
            " configs and met. Such a fact raises no pair-caveats warning: its caveats are"
            " shown as the detail lines of this note.",
            "Nothing has to change. A note never fails the check.",
        ),
        PAIR_VERSIONS_NOT_GIVEN: Rule(
            "pair-versions-not-given",
            "info",
            "A pair needs minimum library versions, and the check was given no pins at all.",
            "The pair works only from a minimum version of a library on, and no requirements"
            " file, pip freeze output or pyproject.toml was passed to the check: the minimums"
            " are listed, not checked (with some pins given, a missing one is pair-version-"
            "unverified, a warning).",
            "To have the versions checked, pass the job's requirements file with the configs.",
        ),
        PAIR_RECOMMENDATION_DIFFERS: Rule(
            "pair-recommendation-differs",
            "info",
            "A setting of the plan differs from what the working setups behind a pair use.",
            "The pair's fact records a recommended setting (what its sources' working setups"
            " use, e.g. for memory savings), and the configs set it otherwise. Upstream examples"
            " that differ still run, so this is a note, not a failure.",
            "Consider the value the finding names; keep yours when you know why it differs.",
        ),
        SCENARIO_UNSUPPORTED: Rule(
            "scenario-unsupported",
            "error",
            "A technique does not suit a declared scenario.",
            "A declared scenario (ftmatrix check --scenario) is marked no for a technique of the"
            " plan in the matrix, for the technique itself or for a parent technique (shown as"
            " 'as ...').",
            "Choose a technique marked yes for the scenario (the fix line lists them), or drop"
            " the scenario if it does not describe the job.",
        ),
        SCENARIO_PARTIAL: Rule(
            "scenario-partial",
            "warning",
            "A technique only partly suits a declared scenario.",
            "A declared scenario (ftmatrix check --scenario) is marked partial for a technique of"
            " the plan in the matrix, for the technique itself or for a parent technique.",
            "Read the cell's note (the detail line) to see what is missing; the fix line lists"
            " the techniques marked yes for the scenario.",
        ),
        SCENARIO_UNKNOWN: Rule(
            "scenario-unknown",
            "info",
            "Whether a technique suits a declared scenario is not known.",
            "The matrix has no answer for a technique of the plan and a declared scenario"
            " (ftmatrix check --scenario): the cell is unknown or was never set.",
            "Nothing has to change. A note never fails the check.",
        ),
        # FTM301-FTM304: service.offerings.rules finds them (its OFFERING_RULES say the same).
        MODEL_RETIRED: Rule(
            "model-retired",
            "warning",
            "The plan's base model is retired or deprecated where the catalog tracks it.",
            "The model's lifecycle in the data is `retired` or `deprecated`; the message gives"
            " the date and where the status holds (e.g. the Microsoft Foundry model catalog).",
            "Move to the replacement the finding names, or confirm your platform still serves it.",
        ),
        OFFERING_CANNOT_TUNE_MODEL: Rule(
            "offering-cannot-tune-model",
            "error",
            "The offering the plan names cannot fine-tune its base model.",
            "The offering lists the model as not supported or retired there (with the date), or"
            " does not list it and fine-tunes no model beyond its list.",
            "Pick an offering that lists the model (`GET /v1/where?model=...`), or another model.",
        ),
        OFFERING_LACKS_TECHNIQUE: Rule(
            "offering-lacks-technique",
            "error",
            "The offering the plan names does not offer one of its techniques.",
            "A technique of the plan is not among the offering's techniques in the data.",
            "Use a technique the offering offers, or an offering that offers this one.",
        ),
        MODEL_NOT_IN_CATALOG: Rule(
            "model-not-in-catalog",
            "info",
            "The plan's base model is not in the catalog, so model checks were skipped.",
            "No catalog model has this id or alias (Hugging Face repo ids are aliases).",
            "Nothing to fix; add the model to the data if checks should cover it.",
        ),
        # FTM401-FTM403: service.compat.fit, when the check names the GPU (--gpu / hardware).
        FIT_EXCEEDED: Rule(
            "does-not-fit",
            "error",
            "The plan's estimated memory per GPU exceeds the memory of the GPU it names.",
            "The ftmatrix estimate (model states, activations, quantization constants, CUDA"
            " context and fragmentation allowances) of the plan's model and settings is above"
            " the GPU's memory in the data; the message names the largest component.",
            "Apply the change the fix line names, the cheapest that fits (a higher ZeRO stage,"
            " offload, gradient checkpointing, QLoRA, a smaller micro-batch), or use more GPUs.",
        ),
        FIT_LOW_HEADROOM: Rule(
            "low-headroom",
            "warning",
            "The plan fits its GPU by the estimate, but with under 10% of the memory to spare.",
            "The ftmatrix estimate of the plan is below the GPU's memory, but leaves less than"
            " 10% of it free: the allowances are rules of thumb, so the job may still run out"
            " of memory.",
            "Apply the change the fix line names to get back a 10% margin, or verify the job"
            " with a short trial run before relying on it.",
        ),
        FIT_NOT_CHECKED: Rule(
            "fit-not-checked",
            "info",
            "Whether the plan fits its GPU could not be estimated.",
            "The check names a GPU, but the plan's model is not named, not in the catalog or"
            " has no architecture shape in the data, the GPU's memory is not in the data, or"
            " the estimator cannot count the plan's settings; the message says which.",
            "Name a catalog model with a shape (--model), or estimate it with params and shape"
            " through POST /v1/estimates. A note never fails the check.",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem or note about a plan, ready for a CI log or an annotation.

    `rule` is a key of RULES and `severity` its severity; `message` is one sentence; `evidence`
    holds source URLs; `fix` a suggested change; `locations` point at the config lines of the
    techniques and pins involved (for FTM109 the offending setting first); `settings` are the
    settings a pair requires (FTM104, and the requirement rules FTM109-FTM111);
    `details` the longer text behind the message (the fact's note, then its caveats).
    """

    rule: str
    severity: Severity
    message: str
    techniques: tuple[str, ...]
    scenario: str | None = None
    evidence: tuple[str, ...] = ()
    fix: str | None = None
    locations: tuple[Location, ...] = ()
    settings: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of `check_plan`: fail if any error, warn if any warning, else pass."""

    verdict: Outcome
    revision: int
    findings: tuple[Finding, ...]
