"""Wire schemas of models, hardware, platforms, offerings and `/v1/where`.

Each kind's stored JSON (`entity_version.data`) is read through these classes, so a stored
field the schema does not know is an error, never silently served. A statement's `confidence`
is null only for the seed page's own claims (`status: claimed`): those are what the page says,
not what a source confirms.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from service.vocabulary import Confidence
from service.wire import Input, Output


class ListFormat(StrEnum):
    """Representations of a list."""

    json = "json"
    csv = "csv"
    markdown = "markdown"


class ClaimStatus(StrEnum):
    """What the sources say about a statement (`claimed`: the seed page says it, unjudged)."""

    claimed = "claimed"
    confirmed = "confirmed"
    partly_confirmed = "partly-confirmed"
    contradicted = "contradicted"
    unconfirmable = "unconfirmable"
    outdated = "outdated"


class Mode(StrEnum):
    """How an offering runs: serverless, on your managed compute, locally, on Kubernetes, on a
    device."""

    maas = "maas"
    maap = "maap"
    local = "local"
    kubernetes = "kubernetes"
    on_device = "on-device"


class Status(StrEnum):
    """Lifecycle of a model or offering."""

    available = "available"
    preview = "preview"
    legacy = "legacy"
    deprecated = "deprecated"
    retired = "retired"
    unknown = "unknown"


class Statement(Output):
    text: str
    sources: list[str]
    confidence: Confidence | None = Field(
        description="`high`, `medium` or `low`; null for the seed page's unjudged claims."
    )
    status: ClaimStatus | None = Field(
        default=None, description="Set on the seed page's statements: the verdict on them."
    )
    contradicted_by: list[str] = Field(default=[], description="Sources that contradict it.")
    note: str | None = None


class ModelLifecycle(Output):
    status: Status
    scope: str | None = Field(description="Where the status holds, e.g. a model catalog.")
    legacy_on: str | None
    deprecated_on: str | None
    retired_on: str | None = Field(description="Date (YYYY-MM-DD) it was retired, if it was.")
    replacements: list[str]
    sources: list[str]
    confidence: Confidence | None
    note: str | None = None


class Architecture(Output):
    """The shape of a model, from its published configuration (null where not given)."""

    layers: int | None
    hidden: int | None
    heads: int | None
    kv_heads: int | None
    intermediate: int | None
    vocab: int | None
    tied_embeddings: bool | None
    context: int | None
    head_dim: int | None = Field(
        default=None,
        ge=1,
        description="Width of one attention head, where the source states it (Gemma 3's is "
        "not hidden / heads); null: hidden / heads.",
    )
    qkv_bias: bool | None = Field(
        default=None,
        description="Whether the q/k/v projections have biases (Qwen2: true); null where the "
        "source does not say (counted as false).",
    )
    sources: list[str]
    confidence: Confidence
    note: str | None = None


class ModelRead(Output):
    """A model as of the revision read."""

    id: str
    name: str
    family: str | None
    publisher: str | None
    parameters: str | None = Field(description="The parameter count as a source states it.")
    license: str | None
    aliases: list[str] = Field(description="Hugging Face repo ids and names that resolve to it.")
    architecture: Architecture | None = Field(
        description="Null when no published configuration was read."
    )
    lifecycle: ModelLifecycle
    statements: list[Statement]
    sources: list[str]
    note: str | None = None
    since_revision: int


class HardwareRead(Output):
    """An accelerator or processor kind."""

    id: str
    name: str
    kind: str = Field(description="`gpu`, `cpu`, `fpga` or `npu`.")
    vendor: str | None
    family: str = Field(description="The chip as offerings name it, e.g. `A100`.")
    memory_bytes: int | None
    memory_stated: str | None = Field(description="Memory as the source states it.")
    bf16: bool | None
    fp8: bool | None
    statements: list[Statement]
    sources: list[str]
    confidence: Confidence | None
    note: str | None = None
    since_revision: int


class PlatformName(Output):
    name: str
    from_: str | None = Field(alias="from", serialization_alias="from")
    until: str | None
    sources: list[str]
    confidence: Confidence
    note: str | None = None


class PlatformRead(Output):
    """Where fine-tuning happens; old names resolve through `aliases`."""

    id: str
    name: str
    kind: str = Field(description="`platform`, `runtime` or `tool`.")
    aliases: list[str]
    names: list[PlatformName] = Field(description="Its names over time, with dates where known.")
    seed_name: str | None = Field(description="The name the seed page uses.")
    offerings: list[str] = Field(description="Offerings on this platform.")
    statements: list[Statement]
    sources: list[str]
    since_revision: int


class OfferingModel(Output):
    model: str
    status: str = Field(
        description="`supported`, `not-supported`, `retired`, `unconfirmed` or `claimed`."
    )
    since: str | None
    until: str | None = Field(description="Date it stopped, when it did.")
    note: str | None
    sources: list[str]
    confidence: Confidence | None


class OfferingTechnique(Output):
    technique: str
    sources: list[str]
    confidence: Confidence
    note: str | None = None


class OfferingHardware(Output):
    hardware: str | None = Field(description="A hardware id, when the source pins the card.")
    family: str | None = Field(description="The chip the source names, e.g. `A100`.")
    sku: str | None
    role: str = Field(description="`fine-tune`, `deploy` or `side-steps`.")
    note: str | None
    sources: list[str]
    confidence: Confidence


class OfferingLifecycle(Output):
    status: Status
    scope: str | None
    since: str | None
    until: str | None
    sources: list[str]
    confidence: Confidence | None
    note: str | None = None


class OfferingRead(Output):
    """What a team uses to fine-tune: where, how, which models, techniques and hardware."""

    id: str
    name: str
    kind: str = Field(description="`offering` or `tool`.")
    platform: str | None
    mode: Mode
    also_modes: list[Mode]
    models: list[OfferingModel]
    any_model: Statement | None = Field(
        description="Set when it can fine-tune models beyond those listed (e.g. any HF model)."
    )
    techniques: list[OfferingTechnique]
    hardware: list[OfferingHardware]
    regions: list[Statement]
    billing: list[Statement]
    lifecycle: OfferingLifecycle
    statements: list[Statement]
    sources: list[str]
    samples: list[str] = []
    since_revision: int


class ModelList(Output):
    revision: int
    total: int
    items: list[ModelRead]


class HardwareList(Output):
    revision: int
    total: int
    items: list[HardwareRead]


class PlatformList(Output):
    revision: int
    total: int
    items: list[PlatformRead]


class OfferingList(Output):
    revision: int
    total: int
    items: list[OfferingRead]


class ModelOne(Output):
    revision: int
    model: ModelRead


class HardwareOne(Output):
    revision: int
    hardware: HardwareRead


class PlatformOne(Output):
    revision: int
    platform: PlatformRead


class OfferingOne(Output):
    revision: int
    offering: OfferingRead


class Fit(StrEnum):
    """How firmly the sources say an offering runs the job: every fact high confidence
    (`yes`), some medium (`likely`), some low or only the seed page's claim (`unconfirmed`)."""

    yes = "yes"
    likely = "likely"
    unconfirmed = "unconfirmed"


class Match(Output):
    offering: str
    name: str
    platform: str | None
    mode: Mode
    fit: Fit
    notes: list[str] = Field(description="What the answer rests on, weakest first.")
    sources: list[str]


class Reason(Output):
    code: str = Field(
        description="`model_not_supported`, `model_retired`, `technique_not_offered` or "
        "`offering_retired`."
    )
    message: str
    date: str | None = Field(description="The retirement date, for the retired codes.")
    sources: list[str]


class ExcludedOffering(Output):
    offering: str
    name: str
    reasons: list[Reason]


class WhereAnswer(Output):
    """The offerings that can run a fine-tuning job, ranked, and why the others cannot."""

    revision: int
    model: str
    techniques: list[str]
    matches: list[Match]
    excluded: list[ExcludedOffering]


# -- writes: `PUT /v1/{models|hardware|platforms|offerings}/{id}` ---------------------------
# The body is the read schema's fields less the id (from the path), `since_revision` and what
# is computed on read (a platform's `offerings`); every field is required, as a PUT replaces
# the whole entity, and no field beyond these is accepted at any depth.

EntityName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Sources = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=1000)]],
                    Field(max_length=50)]  # fmt: skip
Aliases = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
                    Field(max_length=50)]  # fmt: skip
HardwareKind = Literal["gpu", "cpu", "fpga", "npu"]
PlatformKind = Literal["platform", "runtime", "tool"]
OfferingKind = Literal["offering", "tool"]
ModelStatus = Literal["supported", "not-supported", "retired", "unconfirmed", "claimed"]
HardwareRole = Literal["fine-tune", "deploy", "side-steps"]


class OfferingModelInput(OfferingModel):
    """One model an offering names, with a status from the closed list of `OfferingModel`."""

    status: ModelStatus


class OfferingHardwareInput(OfferingHardware):
    """One hardware entry of an offering, with a role from the closed list."""

    role: HardwareRole


class ModelWrite(Input):
    """A model, whole: what `GET /v1/models/{id}` returns but `id` and `since_revision`."""

    name: EntityName
    family: str | None
    publisher: str | None
    parameters: str | None
    license: str | None
    aliases: Aliases
    architecture: Architecture | None
    lifecycle: ModelLifecycle
    statements: list[Statement] = Field(max_length=200)
    sources: Sources
    note: Text | None = None


class HardwareWrite(Input):
    """A hardware kind, whole: what `GET /v1/hardware/{id}` returns but `id` and
    `since_revision`."""

    name: EntityName
    kind: HardwareKind
    vendor: str | None
    family: EntityName
    memory_bytes: int | None = Field(ge=0)
    memory_stated: str | None
    bf16: bool | None
    fp8: bool | None
    statements: list[Statement] = Field(max_length=200)
    sources: Sources
    confidence: Confidence | None
    note: Text | None = None


class PlatformWrite(Input):
    """A platform, whole: what `GET /v1/platforms/{id}` returns but `id`, `since_revision` and
    `offerings` (read from the offerings that name the platform)."""

    name: EntityName
    kind: PlatformKind
    aliases: Aliases
    names: list[PlatformName] = Field(max_length=50)
    seed_name: str | None
    statements: list[Statement] = Field(max_length=200)
    sources: Sources


class OfferingWrite(Input):
    """An offering, whole: what `GET /v1/offerings/{id}` returns but `id` and
    `since_revision`. `platform`, every `models[].model` and `hardware[].hardware` must name
    current entities, and every technique a technique the service knows."""

    name: EntityName
    kind: OfferingKind
    platform: str | None
    mode: Mode
    also_modes: list[Mode] = Field(max_length=5)
    models: list[OfferingModelInput] = Field(max_length=500)
    any_model: Statement | None
    techniques: list[OfferingTechnique] = Field(max_length=100)
    hardware: list[OfferingHardwareInput] = Field(max_length=100)
    regions: list[Statement] = Field(max_length=200)
    billing: list[Statement] = Field(max_length=200)
    lifecycle: OfferingLifecycle
    statements: list[Statement] = Field(max_length=200)
    sources: Sources
    samples: list[str] = Field(default=[], max_length=50)
