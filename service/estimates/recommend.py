"""Catalog techniques estimated for one model and job: the numbers behind
`GET /v1/recommendations?model=...`.

`fit_techniques(ids, job)` counts each technique as `service.estimates.techniques` configures
it, for the job's catalog model on its GPUs, and judges the per-GPU total against the memory
of each hardware named. Nothing is guessed: a model without a shape in the catalog, a
technique the estimator cannot count, or a profile that cannot count a configuration gives no
figure, and the result says why. Every choice the request left open is stated beside the
figures as an assumption.

Several hardware ids are alternatives: a technique fits when it fits at least one of them,
and does not fit when it misses every one whose memory is known (and none is unknown).

Pure: the standard library and the estimator core, so the offline CLI could call it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum, unique

from service.estimates.choices import Component, NoteKind, Profile
from service.estimates.entities import REQUIRED_SHAPE, Entity, catalog_model
from service.estimates.errors import EstimateError
from service.estimates.fit import fits
from service.estimates.inputs import Accounting, Activations, EstimateInput, Model
from service.estimates.profiles import estimate
from service.estimates.result import Assumption, Estimate
from service.estimates.sources import FTMATRIX, ZERO
from service.estimates.techniques import Configuration, configuration

NO_SHAPE = "fit not estimated: the catalog has no shape for model {model}"
PARTIAL_SHAPE = "fit not estimated: the catalog's shape for model {model} lacks {missing}"
NUMERICS = (
    "No precision or optimizer given: bf16 mixed precision (fp32 master weights; fp16 mixed "
    "takes the same bytes) and AdamW with 32-bit states counted, the estimator's defaults."
)


@dataclass(frozen=True, slots=True)
class Gpu:
    """A hardware id of the data and its memory in bytes (None: the data states none)."""

    id: str
    memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class Job:
    """What every technique is estimated for: a catalog model record, the hardware to judge
    the fit on (alternatives), GPUs of that hardware, the batch (None: model states only)
    and the accounting profile."""

    model: Entity
    hardware: tuple[Gpu, ...] = ()
    gpus: int = 1
    activations: Activations | None = None
    profile: Profile = Profile.FTMATRIX


@unique
class Status(StrEnum):
    """How a technique's estimate compares with the hardware named."""

    FITS = "fits"
    """Fits at least one of the hardware named."""
    DOES_NOT_FIT = "does-not-fit"
    """Misses every hardware named, all of known memory."""
    UNKNOWN = "unknown"
    """Not estimated, no hardware named, or only hardware of unknown memory left to judge."""


@dataclass(frozen=True, slots=True)
class Judged:
    """The per-GPU total against one hardware: fits is None when its memory is not known;
    headroom is negative by the shortfall when it does not fit."""

    hardware: str
    memory_bytes: int | None
    fits: bool | None
    headroom_bytes: int | None


@dataclass(frozen=True, slots=True)
class Miss:
    """A hardware the estimate does not fit: its memory and the bytes missing (> 0)."""

    hardware: str
    memory_bytes: int
    shortfall_bytes: int


@dataclass(frozen=True, slots=True)
class TechniqueFit:
    """One technique estimated for a job, or why it was not."""

    technique: str
    status: Status
    reason: str | None
    """Why the status is `unknown` (no estimate, or nothing to judge it on); else None."""
    configuration: str | None
    """How the technique was counted, in words; None when it cannot be counted."""
    estimate: Estimate | None
    judged: tuple[Judged, ...]
    assumptions: tuple[Assumption, ...]
    """The catalog data's uncertainty, the mapping's choices and the estimator's notes."""

    @property
    def per_gpu_total(self) -> int | None:
        """Bytes per GPU, or None without an estimate."""
        return None if self.estimate is None else self.estimate.per_gpu.total

    @property
    def largest(self) -> tuple[Component, int] | None:
        """The largest per-GPU component and its bytes (ties: the first in Component order),
        the part to cut first; None without an estimate."""
        if self.estimate is None:
            return None
        gpu = self.estimate.per_gpu
        return max(((c, gpu.component(c)) for c in Component), key=lambda part: part[1])

    @property
    def shortfalls(self) -> tuple[Miss, ...]:
        """The hardware it misses (known memory, negative headroom), in the order named."""
        return tuple(
            Miss(j.hardware, j.memory_bytes, -j.headroom_bytes)
            for j in self.judged
            if j.memory_bytes is not None and j.headroom_bytes is not None and j.headroom_bytes < 0
        )


def _not_estimated(tid: str, reason: str, notes: tuple[Assumption, ...]) -> TechniqueFit:
    return TechniqueFit(tid, Status.UNKNOWN, reason, None, None, (), notes)


def _judge(result: Estimate, hardware: Sequence[Gpu]) -> tuple[Judged, ...]:
    judged = []
    for gpu in hardware:
        if gpu.memory_bytes is None:
            judged.append(Judged(gpu.id, None, None, None))
            continue
        ok, headroom = fits(result, gpu.memory_bytes)
        judged.append(Judged(gpu.id, gpu.memory_bytes, ok, headroom))
    return tuple(judged)


def _status(judged: Sequence[Judged]) -> tuple[Status, str | None]:
    if any(j.fits for j in judged):
        return Status.FITS, None
    unknown = [j.hardware for j in judged if j.fits is None]
    if unknown:
        return Status.UNKNOWN, (
            f"fit not judged on {', '.join(unknown)}: the data states no GPU memory for "
            + ("it" if len(unknown) == 1 else "them")
        )
    if judged:
        return Status.DOES_NOT_FIT, None
    return Status.UNKNOWN, "fit not judged: no hardware given"


def _mapping_notes(tid: str, config: Configuration, job: Job) -> list[Assumption]:
    # Topics name the technique: one answer lists each topic once, for all techniques.
    notes = [
        Assumption(
            NoteKind.ASSUMPTION, f"technique-{tid}-{n}", f"{text[:1].upper()}{text[1:]}.", source
        )
        for n, (text, source) in enumerate(config.assumed, 1)
    ]
    sharded = config.zero_stage or config.fsdp is not None
    if job.gpus > 1 and not sharded:
        notes.append(
            Assumption(
                NoteKind.ASSUMPTION,
                "data-parallel",
                f"{job.gpus} GPUs without ZeRO or FSDP: plain data parallelism, every GPU holds "
                "the whole model's states.",
                ZERO,
            )
        )
    return notes


def _one(tid: str, model: Model, job: Job, shared: tuple[Assumption, ...]) -> TechniqueFit:
    config = configuration(tid)
    if isinstance(config, str):
        return _not_estimated(tid, f"fit not estimated: {config}", shared)
    notes = (*shared, *_mapping_notes(tid, config, job))
    try:
        result = estimate(
            EstimateInput(
                model=model,
                technique=config.technique,
                parallelism=config.parallelism(job.gpus),
                activations=job.activations,
                accounting=Accounting(profile=job.profile),
            )
        )
    except EstimateError as exc:
        return _not_estimated(tid, f"fit not estimated: {exc.message}", notes)
    judged = _judge(result, job.hardware)
    status, reason = _status(judged)
    return TechniqueFit(
        tid,
        status,
        reason,
        config.describe(job.gpus),
        result,
        judged,
        (*notes, *result.assumptions),
    )


def _shapeless(model: Entity) -> str:
    ident = str(model["id"])
    arch = model.get("architecture")
    missing = [n for n in REQUIRED_SHAPE if isinstance(arch, Mapping) and arch.get(n) is None]
    if not isinstance(arch, Mapping) or len(missing) == len(REQUIRED_SHAPE):
        return NO_SHAPE.format(model=ident)
    return PARTIAL_SHAPE.format(model=ident, missing=" and ".join(missing))


def fit_techniques(technique_ids: Sequence[str], job: Job) -> Mapping[str, TechniqueFit]:
    """Each technique of `technique_ids` estimated for `job`, by id, in the order given.

    A model without a shape in the catalog makes every result `unknown` with the reason
    "fit not estimated: the catalog has no shape for model X" (or, for a shape recorded in
    part, "... the catalog's shape for model X lacks vocab"); nothing raises for it.
    """
    try:
        found = catalog_model(job.model)
    except EstimateError:
        reason = _shapeless(job.model)
        return {tid: _not_estimated(tid, reason, ()) for tid in technique_ids}
    shared = (
        *(
            Assumption(NoteKind.ASSUMPTION, f"catalog-data-{n}", text, "catalog model data")
            for n, text in enumerate(found.notes, 1)
        ),
        Assumption(NoteKind.ASSUMPTION, "numerics", NUMERICS, FTMATRIX),
    )
    return {tid: _one(tid, found.model, job, shared) for tid in technique_ids}
