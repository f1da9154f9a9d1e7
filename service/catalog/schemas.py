"""Wire schemas of the catalog reads: techniques, scenarios, the matrix, recommendations."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from service.estimates.choices import Profile
from service.estimates.schemas import AssumptionOut, FitOut
from service.vocabulary import Support
from service.wire import Output


class MatrixFormat(StrEnum):
    """Representations of the matrix."""

    json = "json"
    csv = "csv"
    markdown = "markdown"


class Paper(Output):
    title: str
    arxiv: str | None = Field(default=None, description="arXiv id, e.g. 2106.09685.")
    doi: str | None = None
    year: int | None = None
    venue: str | None = None
    first_author: str | None = None


class Fact(Output):
    text: str
    sources: list[str]
    confidence: str | None = Field(
        default=None, description="`medium` or `low` where a source is unconfirmed; null if firm."
    )


class Library(Output):
    name: str
    how: str | None = Field(default=None, description="How the library exposes the technique.")
    since: str | None = Field(default=None, description="First version or change that has it.")
    sources: list[str]
    confidence: str | None = None


class TechniqueRef(Output):
    id: str
    name: str


class ScenarioRef(Output):
    id: str
    title: str
    kind: str


class TechniqueRead(Output):
    """A fine-tuning technique as of the revision read."""

    id: str = Field(description="Stable slug, e.g. `qlora`.")
    name: str = Field(description="Display name, as the matrix's column header.")
    full_name: str | None
    category: str
    summary: str
    aliases: list[str] = Field(description="Other spellings accepted wherever an id is.")
    paper: Paper | None
    facts: list[Fact]
    libraries: list[Library]
    parent: str | None = Field(description="The technique this one builds on, if any.")
    children: list[str] = Field(description="Techniques that build on this one.")
    sources: list[str]
    since_revision: int = Field(description="Revision that last changed this technique.")


class ScenarioRead(Output):
    """What people fine-tune for (`task`) or a cost/memory goal (`goal`)."""

    id: str
    title: str = Field(description="The title exactly as published.")
    kind: str = Field(description="`task` or `goal`.")
    description: str
    aliases: list[str]
    sources: list[str]
    since_revision: int


class Page(Output):
    revision: int = Field(description="The revision this answer was read from.")
    total: int
    limit: int
    offset: int


class TechniqueList(Page):
    items: list[TechniqueRead]


class ScenarioList(Page):
    items: list[ScenarioRead]


class TechniqueOne(Output):
    revision: int
    technique: TechniqueRead


class ScenarioOne(Output):
    revision: int
    scenario: ScenarioRead


class Cell(Output):
    scenario: str
    technique: str
    support: Support
    note: str
    sources: list[str]
    since_revision: int | None = Field(
        description="Revision that last set this cell; null for a cell never set (unknown)."
    )


class Matrix(Output):
    """The matrix: scenarios (rows) x techniques (columns), filtered as asked."""

    revision: int
    scenarios: list[ScenarioRef]
    techniques: list[TechniqueRef]
    cells: list[Cell]


class CellOne(Output):
    revision: int
    scenario: ScenarioRef
    technique: TechniqueRef
    cell: Cell


class TechniqueVerdict(Output):
    technique: TechniqueRef
    support: Support
    note: str
    sources: list[str]


class ScenarioTechniques(Output):
    """The techniques for one scenario (a row of the matrix)."""

    revision: int
    scenario: ScenarioRef
    items: list[TechniqueVerdict]


class ScenarioVerdict(Output):
    scenario: ScenarioRef
    support: Support
    note: str
    sources: list[str]


class TechniqueScenarios(Output):
    """The scenarios for one technique (a column of the matrix)."""

    revision: int
    technique: TechniqueRef
    items: list[ScenarioVerdict]


def _absent(value: object) -> bool:
    # Fields only a fit question fills are left out, not null, so that an answer without a
    # model stays exactly what it was before they existed.
    return value is None


class ComponentBytes(Output):
    component: str = Field(
        description="weights, gradients, optimizer_states, activations, "
        "quantization_constants or other."
    )
    bytes: int


class Shortfall(Output):
    hardware: str
    memory_bytes: int = Field(description="The GPU's memory as the data states it.")
    shortfall_bytes: int = Field(description="The per-GPU estimate minus that memory (> 0).")


class TechniqueEstimate(Output):
    """One technique estimated for the model and GPUs asked about (all figures in bytes)."""

    status: Literal["fits", "does-not-fit", "unknown"] = Field(
        description="`fits`: fits at least one hardware named; `does-not-fit`: misses every "
        "one; `unknown`: not estimated, or no hardware of known memory to judge it on."
    )
    reason: str | None = Field(description="Why the status is `unknown`; null otherwise.")
    configuration: str | None = Field(
        description="How the estimator counted the technique; null when it cannot count it."
    )
    per_gpu_total_bytes: int | None
    cpu_per_node_bytes: int | None = Field(description="Offloaded states in each node's RAM.")
    nvme_per_node_bytes: int | None = Field(description="Offloaded states on each node's NVMe.")
    params: int | None = Field(description="Total parameters, adapters included.")
    trainable_params: int | None
    largest_component: ComponentBytes | None = Field(
        description="The largest per-GPU component: the part to cut first."
    )
    fits: list[FitOut] = Field(description="One per hardware named, in order.")
    assumptions: list[str] = Field(
        description="The topics, in the answer's top-level `assumptions`, of what this "
        "estimate rests on: what the catalog data leaves uncertain, what the technique "
        "mapping and the request's defaults assume, and the estimator's own notes."
    )


class HardwareMemory(Output):
    hardware: str
    memory_bytes: int | None = Field(description="null: the data states no GPU memory for it.")


class FitJob(Output):
    """The job every technique was estimated for."""

    model: str = Field(description="The catalog model id.")
    gpus: int
    profile: Profile
    hardware: list[HardwareMemory] = Field(description="Alternatives, in the order named.")
    seq_len: int | None = Field(description="null: activations not counted.")
    micro_batch: int | None
    gradient_checkpointing: bool | None


class Recommendation(Output):
    rank: int = Field(description="1 is best.")
    technique: TechniqueRef
    score: float | None = Field(
        description="Mean over the scenarios of yes = 1, partial = 0.5; null when no scenario "
        "was given."
    )
    verdicts: list[ScenarioVerdict] = Field(description="One per requested scenario, in order.")
    estimate: TechniqueEstimate | None = Field(
        default=None, exclude_if=_absent, description="Present when a model is given."
    )


class Excluded(Output):
    technique: TechniqueRef
    failing: list[ScenarioVerdict] = Field(
        description="The requested scenarios it does not satisfy (support no or unknown)."
    )
    reason: Literal["scenario", "does-not-fit"] | None = Field(
        default=None,
        exclude_if=_absent,
        description="Present when a model is given: `scenario` (see `failing`) or "
        "`does-not-fit` (it suits the scenarios but misses every hardware named).",
    )
    shortfalls: list[Shortfall] | None = Field(
        default=None, exclude_if=_absent, description="With `does-not-fit`: by how much."
    )
    largest_component: ComponentBytes | None = Field(
        default=None,
        exclude_if=_absent,
        description="With `does-not-fit`: the largest per-GPU component, the one that breaks it.",
    )
    estimate: TechniqueEstimate | None = Field(
        default=None, exclude_if=_absent, description="With `does-not-fit`: the estimate."
    )


class Recommendations(Output):
    """Techniques that suit every requested scenario (yes or partial), best first; with a
    model, each with its memory estimate, those that fit first."""

    revision: int
    scenarios: list[ScenarioRef]
    items: list[Recommendation]
    excluded: list[Excluded]
    fit: FitJob | None = Field(
        default=None, exclude_if=_absent, description="Present when a model is given."
    )
    assumptions: list[AssumptionOut] | None = Field(
        default=None,
        exclude_if=_absent,
        description="Present when a model is given: every assumption any estimate rests on, "
        "once each (estimates name theirs by `topic`), so the answer stays small.",
    )
