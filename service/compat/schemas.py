"""Wire schemas of the compatibility reads, plan checks, pairs and the snapshot export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.vocabulary import Confidence, Verdict
from service.wire import Input, Output

Text = Annotated[str, StringConstraints(max_length=4000)]
Source = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
Specifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]


Scalar = str | bool | int | float
SettingName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Requirement(Input):
    """A condition a pair puts on one canonical setting (e.g. `fsdp.use_orig_params`): exactly
    one of `equals`, `one_of`, `not_equals` or `absent: true`."""

    setting: SettingName = Field(description="Canonical setting name, e.g. fsdp.use_orig_params.")
    equals: Scalar | None = None
    one_of: list[Scalar] | None = Field(default=None, min_length=1, max_length=20)
    not_equals: Scalar | None = None
    absent: bool | None = Field(default=None, description="true: the setting must be unset.")
    text: Text = ""
    sources: list[Source] = Field(default_factory=list, max_length=50)
    level: Literal["required", "recommended"] = Field(
        default="required",
        description="`required`: unmet is an error, unknown a warning. `recommended`: what the "
        "sources' working setups use; unmet is a note.",
    )

    @model_validator(mode="after")
    def _one_operator(self) -> Requirement:
        given = [
            op
            for op in ("equals", "one_of", "not_equals", "absent")
            if getattr(self, op) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, one_of, not_equals, absent")
        if self.absent is False:
            raise ValueError("absent must be true when given")
        return self


class PairWrite(Input):
    """Everything known about combining two techniques."""

    verdict: Verdict
    note: Text = ""
    caveats: list[Text] = Field(default_factory=list, max_length=50)
    settings: list[Text] = Field(default_factory=list, max_length=50, description="Required.")
    versions: dict[str, Specifier] = Field(
        default_factory=dict,
        description="Library -> PEP 440 specifier from which the pair works, e.g. >=0.10.0.",
    )
    recommended_versions: dict[str, Specifier] = Field(default_factory=dict)
    since: Text | None = None
    confidence: Confidence = Confidence.high
    sources: list[Source] = Field(default_factory=list, max_length=50)
    requirements: list[Requirement] = Field(
        default_factory=list,
        max_length=50,
        description="The required settings in machine-readable form; checks judge plans by them.",
    )


class PairRead(Output):
    """A stored pair fact."""

    a: str
    b: str
    verdict: Verdict
    note: str
    caveats: list[str]
    settings: list[str]
    versions: dict[str, str]
    recommended_versions: dict[str, str]
    since: str | None
    confidence: Confidence
    sources: list[str]
    since_revision: int
    requirements: list[dict[str, Any]] = Field(
        description="Structured requirements: setting, one operator, text, sources."
    )


class PairList(Output):
    revision: int
    items: list[PairRead]


class PairJudgement(Output):
    """The verdict on one pair, with the fact it rests on."""

    a: str
    b: str
    verdict: Verdict
    confidence: Confidence | None
    note: str
    inherited_from: list[str] | None = Field(
        description="The ancestor pair whose fact this is, when the pair has none of its own."
    )
    caveats: list[str]
    settings: list[str]
    versions: dict[str, str]
    recommended_versions: dict[str, str]
    sources: list[str]
    requirements: list[dict[str, Any]]


class Compatibility(Output):
    """Every pair among the given techniques, and the overall verdict."""

    revision: int
    techniques: list[str]
    overall: Verdict = Field(
        description="The worst pair verdict: incompatible > unknown > caveats > compatible."
    )
    pairs: list[PairJudgement]


class PlannedTechniqueIn(Input):
    id: str = Field(description="Technique id or alias.")
    file: str | None = Field(default=None, max_length=1000)
    line: int | None = Field(default=None, ge=1)
    key: str | None = Field(default=None, max_length=200)


class PlannedLibraryIn(Input):
    version: str = Field(max_length=100)
    file: str | None = Field(default=None, max_length=1000)
    line: int | None = Field(default=None, ge=1)
    key: str | None = Field(default=None, max_length=200)


class PlannedSettingIn(Input):
    value: Scalar | list[str] | None = Field(description="The value, as a config reader gives it.")
    file: str | None = Field(default=None, max_length=1000)
    line: int | None = Field(default=None, ge=1)
    key: str | None = Field(default=None, max_length=200)
    guessed: bool = Field(default=False, description="Inferred, not read: decides nothing.")


class PlannedModelIn(Input):
    name: str = Field(
        min_length=1, max_length=500, description="Catalog id or alias, or a Hugging Face repo id."
    )
    file: str | None = Field(default=None, max_length=1000)
    line: int | None = Field(default=None, ge=1)
    key: str | None = Field(default=None, max_length=200)


class CheckRequest(Input):
    """A training plan: its techniques, optionally what it is for, its library pins and the
    settings detected in its configs (canonical names, as `ftmatrix check` reports them), its
    base model, and where it is to run (offering, hardware and GPU count)."""

    techniques: list[str | PlannedTechniqueIn] = Field(min_length=1, max_length=100)
    scenarios: list[str] = Field(default_factory=list, max_length=50)
    libraries: dict[str, str | PlannedLibraryIn] = Field(
        default_factory=dict, max_length=500, description="Library -> pinned version."
    )
    settings: dict[SettingName, PlannedSettingIn] = Field(
        default_factory=dict,
        max_length=200,
        description="Canonical setting name (e.g. fsdp.use_orig_params) -> value and location.",
    )
    model: str | PlannedModelIn | None = Field(
        default=None, description="The base model: model and offering rules (FTM301-FTM304)."
    )
    offering: str | None = Field(
        default=None, max_length=200, description="Offering or platform id, e.g. kaito."
    )
    hardware: str | None = Field(
        default=None, max_length=200, description="Hardware id: the fit rules (FTM401-FTM403)."
    )
    gpus: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="GPUs of `hardware`; null: train.gpus, else 1.",
    )


class LocationOut(Output):
    file: str
    line: int | None
    key: str | None


class FindingOut(Output):
    rule: str = Field(description="Stable rule id, e.g. FTM102.")
    name: str = Field(description="The rule's name, e.g. pair-version-unmet.")
    severity: str = Field(description="`error`, `warning` or `info`.")
    message: str
    techniques: list[str]
    scenario: str | None
    evidence: list[str] = Field(description="Sources behind the finding.")
    fix: str | None
    settings: list[str]
    details: list[str]
    locations: list[LocationOut]


class CheckReport(Output):
    """The verdict on a plan: fail on any error, warn on any warning, else pass."""

    revision: int
    verdict: str = Field(description="`pass`, `warn` or `fail`.")
    techniques: list[str] = Field(description="The plan's techniques, as ids.")
    scenarios: list[str]
    findings: list[FindingOut] = Field(description="Errors first, then by rule and technique.")
    summary: dict[str, int] = Field(description="Findings by severity.")


class SnapshotDocument(BaseModel):
    """Everything a plan check needs, for one revision (`ftmatrix check --offline` reads it)."""

    model_config = ConfigDict(extra="allow")

    format: str = Field(description="`ftmatrix-snapshot/1`.")
    revision: int
    techniques: list[dict[str, Any]]
    scenarios: list[dict[str, Any]]
    cells: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
