"""Will each technique fit? The fit half of `GET /v1/recommendations`, over a snapshot.

`FitQuestion` holds what the request asked (the query's raw values). `job` resolves it against
the snapshot's models and hardware: an unknown model or hardware id, fit parameters without a
model, a batch without a sequence length or fewer than one GPU is a 422 naming what is allowed
(and the closest id). A model whose shape the catalog lacks is no error here: every technique
then says "fit not estimated" (`service.estimates.recommend`). `estimate_read` and `job_read`
shape the results for the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.catalog import schemas as s
from service.errors import InvalidInput, closest
from service.estimates import Activations, Profile
from service.estimates.entities import Entity, lookup, memory_bytes
from service.estimates.recommend import Gpu, Job, Status, TechniqueFit
from service.estimates.schemas import AssumptionOut, FitOut
from service.estimates.service import records
from service.snapshot import Snapshot

MAX_HARDWARE = 20
"""Hardware ids one question may name (as `POST /v1/estimates` allows)."""


@dataclass(frozen=True, slots=True)
class FitQuestion:
    """The fit parameters of a recommendations request, as given (None: not given)."""

    model: str | None = None
    hardware: Sequence[str] = field(default=())
    gpus: int | None = None
    seq_len: int | None = None
    micro_batch: int | None = None
    gradient_checkpointing: bool | None = None
    profile: Profile | None = None

    def others(self) -> list[str]:
        """The names of the fit parameters given besides `model`."""
        given = {
            "hardware": bool(self.hardware),
            "gpus": self.gpus is not None,
            "seq_len": self.seq_len is not None,
            "micro_batch": self.micro_batch is not None,
            "gradient_checkpointing": self.gradient_checkpointing is not None,
            "profile": self.profile is not None,
        }
        return [name for name, present in given.items() if present]


def _spellings(items: Sequence[Entity]) -> dict[str, str]:
    # Every accepted spelling -> its id, ids last so that they win (as `lookup` does).
    out: dict[str, str] = {}
    for record in items:
        for spelling in (*record.get("aliases", ()), record.get("name") or ""):
            if spelling:
                out.setdefault(str(spelling), str(record["id"]))
    return out | {str(r["id"]): str(r["id"]) for r in items}


def _unknown(kind: str, value: str, items: Sequence[Entity]) -> InvalidInput:
    spellings = _spellings(items)
    guess = closest(value, spellings)
    return InvalidInput(
        f"No {kind} with id or alias {value!r}.",
        allowed=[str(r["id"]) for r in items],
        did_you_mean=spellings[guess] if guess is not None else None,
        errors=[{"location": f"query.{kind}", "message": f"unknown {kind}", "input": value}],
    )


def _invalid(location: str, detail: str, message: str, **extra: Any) -> InvalidInput:
    return InvalidInput(detail, errors=[{"location": location, "message": message}], **extra)


def job(snap: Snapshot, question: FitQuestion) -> Job | None:
    """The job `question` asks about, or None when it names no model. Raises InvalidInput."""
    if question.model is None and not question.others():
        return None  # a plain matrix question: the catalog's records are not even read
    data = records(snap)
    if question.model is None:
        others = question.others()
        raise _invalid(
            "query.model",
            f"{' and '.join(others)} {'need' if len(others) > 1 else 'needs'} a model to "
            "estimate for: give model (a catalog id or alias).",
            f"required with {', '.join(others)}",
            allowed=[str(r["id"]) for r in data.models],
        )
    model = lookup(data.models, question.model)
    if model is None:
        raise _unknown("model", question.model, data.models)
    if len(question.hardware) > MAX_HARDWARE:
        raise _invalid(
            "query.hardware",
            f"At most {MAX_HARDWARE} hardware ids, not {len(question.hardware)}.",
            f"at most {MAX_HARDWARE} values",
        )
    gpus: list[Gpu] = []
    for value in dict.fromkeys(question.hardware):
        record = lookup(data.hardware, value)
        if record is None:
            raise _unknown("hardware", value, data.hardware)
        gpu = Gpu(str(record["id"]), memory_bytes(record))
        if gpu not in gpus:
            gpus.append(gpu)
    count = 1 if question.gpus is None else question.gpus
    if count < 1:
        raise _invalid(
            "query.gpus",
            f"gpus must be at least 1, not {count}: every estimate is per GPU.",
            "must be at least 1",
        )
    return Job(
        model, tuple(gpus), count, _activations(question), question.profile or Profile.FTMATRIX
    )


def _activations(question: FitQuestion) -> Activations | None:
    if question.seq_len is None:
        batch = [
            n for n in ("micro_batch", "gradient_checkpointing") if getattr(question, n) is not None
        ]
        if batch:
            raise _invalid(
                "query.seq_len",
                f"{' and '.join(batch)} {'size' if len(batch) > 1 else 'sizes'} the "
                "activations, which are counted only with a sequence length: give seq_len too.",
                f"required with {' and '.join(batch)}",
            )
        return None
    if question.seq_len < 1 or (question.micro_batch is not None and question.micro_batch < 1):
        raise _invalid(
            "query.seq_len", "seq_len and micro_batch must be at least 1.", "must be at least 1"
        )
    return Activations(
        seq_len=question.seq_len,
        micro_batch=question.micro_batch or 1,
        gradient_checkpointing=bool(question.gradient_checkpointing),
    )


def job_read(found: Job) -> s.FitJob:
    """The job as the answer echoes it."""
    batch = found.activations
    return s.FitJob(
        model=str(found.model["id"]),
        gpus=found.gpus,
        profile=found.profile,
        hardware=[
            s.HardwareMemory(hardware=g.id, memory_bytes=g.memory_bytes) for g in found.hardware
        ],
        seq_len=batch.seq_len if batch else None,
        micro_batch=batch.micro_batch if batch else None,
        gradient_checkpointing=batch.gradient_checkpointing if batch else None,
    )


def estimate_read(fit: TechniqueFit) -> s.TechniqueEstimate:
    """One technique's estimate as the answer shows it."""
    result = fit.estimate
    largest = fit.largest
    return s.TechniqueEstimate(
        status=fit.status.value,
        reason=fit.reason,
        configuration=fit.configuration,
        per_gpu_total_bytes=fit.per_gpu_total,
        cpu_per_node_bytes=result.per_node_cpu.total if result else None,
        nvme_per_node_bytes=result.per_node_nvme.total if result else None,
        params=result.params if result else None,
        trainable_params=result.trainable_params if result else None,
        largest_component=(
            s.ComponentBytes(component=largest[0].value, bytes=largest[1]) if largest else None
        ),
        fits=[
            FitOut(
                hardware=j.hardware,
                memory_bytes=j.memory_bytes,
                fits=j.fits,
                headroom_bytes=j.headroom_bytes,
            )
            for j in fit.judged
        ],
        assumptions=[a.topic for a in fit.assumptions],
    )


def assumptions_read(fits: Iterable[TechniqueFit]) -> list[AssumptionOut]:
    """Every assumption the estimates rest on, once each, in the order first met."""
    seen: dict[str, AssumptionOut] = {}
    for one in fits:
        for a in one.assumptions:
            if a.topic not in seen:
                seen[a.topic] = AssumptionOut(
                    kind=a.kind, topic=a.topic, text=a.text, source=a.source
                )
    return list(seen.values())


def exclusion(technique: s.TechniqueRef, fit: TechniqueFit) -> s.Excluded:
    """The `excluded` entry of a technique that suits the scenarios but misses every
    hardware named: the shortfall on each and the component that breaks it."""
    estimate = estimate_read(fit)
    return s.Excluded(
        technique=technique,
        failing=[],
        reason=Status.DOES_NOT_FIT.value,
        shortfalls=[
            s.Shortfall(
                hardware=m.hardware, memory_bytes=m.memory_bytes, shortfall_bytes=m.shortfall_bytes
            )
            for m in fit.shortfalls
        ],
        largest_component=estimate.largest_component,
        estimate=estimate,
    )
