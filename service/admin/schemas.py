"""Wire schemas of the writes: techniques, scenarios, cells, keys, and what a write returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from service.catalog.schemas import Fact, Library, Paper
from service.history.schemas import Change
from service.vocabulary import Category, ScenarioKind, Support
from service.wire import Input, Output, one_script

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$"),
    Field(description="Lower-case letters, digits and dashes; at most 64 characters."),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
Source = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
Alias = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(one_script),
]


class TechniqueCreate(Input):
    """A new technique. `id` can never be reused, even after the technique is retired."""

    id: Slug
    name: ShortText = Field(description="Display name, used as the matrix column header.")
    full_name: Annotated[str, StringConstraints(max_length=300)] | None = None
    category: Category
    summary: LongText = ""
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    paper: Paper | None = None
    facts: list[Fact] = Field(default_factory=list, max_length=200)
    libraries: list[Library] = Field(default_factory=list, max_length=100)
    parent: str | None = Field(
        default=None, description="Id or alias of the technique it builds on."
    )
    sources: list[Source] = Field(default_factory=list, max_length=50)


class TechniqueUpdate(Input):
    """Fields to change; those left out keep their value. A new `id` renames the technique and
    keeps the old id as an alias."""

    id: Slug | None = None
    name: ShortText | None = None
    full_name: Annotated[str, StringConstraints(max_length=300)] | None = None
    category: Category | None = None
    summary: LongText | None = None
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    paper: Paper | None = None
    facts: list[Fact] | None = Field(default=None, max_length=200)
    libraries: list[Library] | None = Field(default=None, max_length=100)
    parent: str | None = None
    sources: list[Source] | None = Field(default=None, max_length=50)


class ScenarioCreate(Input):
    """A new scenario. `id` can never be reused, even after the scenario is retired."""

    id: Slug
    title: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
    kind: ScenarioKind
    description: LongText = ""
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    sources: list[Source] = Field(default_factory=list, max_length=50)


class ScenarioUpdate(Input):
    """Fields to change; a new `id` renames the scenario and keeps the old id as an alias."""

    id: Slug | None = None
    title: (
        Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
        | None
    ) = None
    kind: ScenarioKind | None = None
    description: LongText | None = None
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    sources: list[Source] | None = Field(default=None, max_length=50)


class CellWrite(Input):
    """The whole content of one cell."""

    support: Support
    note: LongText = ""
    sources: list[Source] = Field(default_factory=list, max_length=50)


class WriteResult(Output):
    """What a write did, or with `dry_run`, what it would do."""

    revision: int = Field(description="The revision now current (unchanged by a dry run).")
    created_revision: int | None = Field(
        description="The revision this write created; null for a dry run or a no-op."
    )
    dry_run: bool
    changes: list[Change]


class KeyCreate(Input):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")] = Field(
        description="Who holds the key; recorded as the author of its writes."
    )
    scope: Annotated[str, StringConstraints(pattern=r"^(read|write|admin)$")] = Field(
        description="`read`, `write` (edit data) or `admin` (also keys and the audit log)."
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class KeyRead(Output):
    name: str
    key_id: str = Field(description="The public part of the key (not a secret).")
    scope: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The secret. Shown this once; only its hash is stored.")


class KeyList(Output):
    items: list[KeyRead]


class CellPatch(Input):
    """One cell of a bulk edit; omitted `note`/`sources` keep their current value."""

    scenario: str = Field(description="Scenario id, alias or title.")
    technique: str = Field(description="Technique id or alias.")
    support: Support
    note: LongText | None = None
    sources: list[Source] | None = None


class MatrixPatch(Input):
    """The JSON form of `PATCH /v1/matrix`."""

    cells: list[CellPatch] = Field(min_length=1, max_length=100_000)
