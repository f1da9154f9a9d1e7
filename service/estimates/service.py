"""`POST /v1/estimates` over a snapshot: the request made an estimator input, and the answer.

A model named by catalog id takes its shape from the snapshot's models (never an invented one:
a model without a shape is a 422 saying so); hardware ids are judged by their memory in the
data. `EstimateError` from the pure core becomes `InvalidInput` (422) naming the field and what
is allowed. No database access: everything comes from the immutable snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidInput, closest
from service.estimates import (
    Accounting,
    Activations,
    Estimate,
    EstimateError,
    EstimateInput,
    LoraSpec,
    Model,
    ModelShape,
    NoteKind,
    Numerics,
    Offload,
    Parallelism,
    Quantization,
    Technique,
    estimate,
    fits,
    render_svg,
)
from service.estimates import schemas as s
from service.estimates.entities import catalog_model, lookup, memory_bytes
from service.estimates.inputs import CUDA_CONTEXT_BYTES, FRAGMENTATION
from service.estimates.result import Assumption
from service.offerings import service as offerings
from service.snapshot import Snapshot

Entity = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Records:
    """The data an estimate reads: the revision, and its models and hardware as the snapshot
    document lists them (from a snapshot here, from the exported file in `ftmatrix estimate`)."""

    revision: int
    models: Sequence[Entity]
    hardware: Sequence[Entity]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Records:
        """From a snapshot document (`GET /v1/export`); absent lists read as empty."""
        lists = [
            [e for e in document.get(key) or () if isinstance(e, Mapping)]
            for key in ("models", "hardware")
        ]
        return cls(int(document.get("revision") or 0), lists[0], lists[1])


def records(snap: Snapshot) -> Records:
    """The Records of a snapshot (built once per snapshot)."""

    def build() -> Records:
        return Records(snap.revision, *(
            [{**e.data, "id": e.id} for e in offerings.entities(snap, kind).values()]
            for kind in ("model", "hardware")
        ))  # fmt: skip

    result: Records = snap.memo("estimates.records", build)
    return result


def _invalid(error: EstimateError) -> InvalidInput:
    return InvalidInput(
        f"{error.field}: {error.message}.",
        allowed=list(error.allowed) or None,
        errors=[
            {
                "location": f"body.{error.field}",
                "message": error.message,
                "allowed": list(error.allowed),
            }
        ],
    )


def _unknown(kind: str, field: str, value: str, records: Sequence[Entity]) -> InvalidInput:
    ids = [str(r["id"]) for r in records]
    return InvalidInput(
        f"No {kind} with id or alias {value!r}.",
        allowed=ids,
        did_you_mean=closest(value, ids),
        errors=[{"location": f"body.{field}", "message": f"unknown {kind}", "input": value}],
    )


def _model(data: Records, body: s.EstimateRequest) -> tuple[Model, tuple[str, ...], str | None]:
    if body.model is None:
        shape = ModelShape(**body.shape.model_dump()) if body.shape is not None else None
        return Model(params=body.params, shape=shape), (), None
    record = lookup(data.models, body.model)
    if record is None:
        raise _unknown("model", "model", body.model, data.models)
    found = catalog_model(record)
    return found.model, found.notes, found.id


def to_input(
    data: Records, body: s.EstimateRequest
) -> tuple[EstimateInput, tuple[str, ...], str | None]:
    """The estimator input of a request, the notes on what the catalog data left uncertain,
    and the catalog model id (None when params/shape were given). Raises InvalidInput."""
    try:
        model, notes, model_id = _model(data, body)
        tech = body.technique
        lora = LoraSpec(tech.lora.rank, tuple(tech.lora.targets)) if tech.lora else None
        quant = Quantization(**tech.quantization.model_dump()) if tech.quantization else None
        par = body.parallelism
        acc = body.accounting
        inp = EstimateInput(
            model=model,
            technique=Technique(tech.method, lora=lora, quantization=quant),
            numerics=Numerics(body.numerics.precision, body.numerics.optimizer),
            parallelism=Parallelism(
                **par.model_dump(exclude={"offload"}),
                offload=Offload(par.offload.optimizer, par.offload.params),
            ),
            activations=Activations(**body.activations.model_dump()) if body.activations else None,
            accounting=Accounting(
                profile=body.profile,
                cuda_context_bytes=(
                    CUDA_CONTEXT_BYTES if acc.cuda_context_bytes is None else acc.cuda_context_bytes
                ),
                fragmentation=FRAGMENTATION if acc.fragmentation is None else acc.fragmentation,
                buffer_factor=1.5 if acc.buffer_factor is None else acc.buffer_factor,
            ),
        )
    except EstimateError as exc:
        raise _invalid(exc) from None
    return inp, notes, model_id


def _hardware(data: Records, values: Sequence[str]) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for index, value in enumerate(values):
        record = lookup(data.hardware, value)
        if record is None:
            raise _unknown("hardware", f"hardware.{index}", value, data.hardware)
        out.append((str(record["id"]), memory_bytes(record)))
    return out


def run(
    data: Records, body: s.EstimateRequest
) -> tuple[Estimate, list[tuple[str, int | None]], tuple[str, ...], str | None]:
    """The estimate of a request, its hardware with memory, the data notes and model id."""
    inp, notes, model_id = to_input(data, body)
    hardware = _hardware(data, body.hardware)
    try:
        result = estimate(inp)
    except EstimateError as exc:
        raise _invalid(exc) from None
    return result, hardware, notes, model_id


def answer(data: Records, body: s.EstimateRequest) -> s.EstimateAnswer:
    """The JSON answer of `POST /v1/estimates`."""
    result, hardware, notes, model_id = run(data, body)
    gpu = result.per_gpu
    judged = []
    for ident, memory in hardware:
        ok, headroom = fits(result, memory) if memory is not None else (None, None)
        judged.append(
            s.FitOut(hardware=ident, memory_bytes=memory, fits=ok, headroom_bytes=headroom)
        )
    data_notes = [
        Assumption(NoteKind.ASSUMPTION, f"catalog-data-{n}", text, "catalog model data")
        for n, text in enumerate(notes, 1)
    ]
    assumptions = [*data_notes, *result.assumptions]
    cited = [term.source for term in result.terms] + [a.source for a in result.assumptions]
    sources = dict.fromkeys(part.strip() for text in cited for part in text.split(";"))
    sources.pop("", None)
    return s.EstimateAnswer(
        revision=data.revision,
        profile=result.profile,
        unit=s.UnitOut(symbol=result.unit.symbol, bytes=result.unit.bytes, label=result.unit.label),
        model=model_id,
        gpus=result.gpus,
        nodes=result.nodes,
        per_gpu=s.PerGpu(
            weights=gpu.weights,
            gradients=gpu.gradients,
            optimizer_states=gpu.optimizer_states,
            activations=gpu.activations,
            quantization=gpu.quantization_constants,
            other=gpu.other,
            model_states=gpu.model_states,
            total=gpu.total,
        ),
        cpu=s.PerNode(
            per_node=result.per_node_cpu.total, total=result.per_node_cpu.total * result.nodes
        ),
        nvme=s.PerNode(
            per_node=result.per_node_nvme.total, total=result.per_node_nvme.total * result.nodes
        ),
        params=s.ParamsOut(
            total=result.params,
            trainable=result.trainable_params,
            trainable_share=result.trainable_share,
        ),
        fits=judged,
        terms=[
            s.TermOut(
                place=t.place,
                component=t.component.value,
                bytes=t.bytes,
                label=t.label,
                formula=t.formula,
                source=t.source,
            )
            for t in result.terms
        ],
        assumptions=[
            s.AssumptionOut(kind=a.kind, topic=a.topic, text=a.text, source=a.source)
            for a in assumptions
        ],
        sources=list(sources),
    )


def picture(data: Records, body: s.EstimateRequest) -> str:
    """The SVG of `POST /v1/estimates` with `"format": "svg"`: the stacked bar, GPU memory
    as lines."""
    result, hardware, _, model_id = run(data, body)
    lines = [(ident, memory) for ident, memory in hardware if memory is not None]
    label = model_id or "per GPU"
    title = f"Estimated memory per GPU ({result.profile.value} profile)"
    return render_svg([(label, result)], lines, title=title)
