"""Wire schemas of the compatibility reads, plan checks, pairs and the snapshot export."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.vocabulary import Confidence, Verdict
from service.wire import Input, Output

Text = Annotated[str, StringConstraints(max_length=4000)]
Source = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
Specifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]


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


class CheckRequest(Input):
    """A training plan: its techniques, optionally what it is for and its library pins."""

    techniques: list[str | PlannedTechniqueIn] = Field(min_length=1, max_length=100)
    scenarios: list[str] = Field(default_factory=list, max_length=50)
    libraries: dict[str, str | PlannedLibraryIn] = Field(
        default_factory=dict, max_length=500, description="Library -> pinned version."
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
