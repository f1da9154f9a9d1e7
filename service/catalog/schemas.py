"""Wire schemas of the catalog reads: techniques, scenarios, the matrix, recommendations."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

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


class Recommendation(Output):
    rank: int = Field(description="1 is best.")
    technique: TechniqueRef
    score: float = Field(description="Mean over the scenarios of yes = 1, partial = 0.5.")
    verdicts: list[ScenarioVerdict] = Field(description="One per requested scenario, in order.")


class Excluded(Output):
    technique: TechniqueRef
    failing: list[ScenarioVerdict] = Field(
        description="The requested scenarios it does not satisfy (support no or unknown)."
    )


class Recommendations(Output):
    """Techniques that suit every requested scenario (yes or partial), best first."""

    revision: int
    scenarios: list[ScenarioRef]
    items: list[Recommendation]
    excluded: list[Excluded]
