"""The estimator page (`/estimate`): its GET form made the body of `POST /v1/estimates`, and what
the page shows of the answer.

The form's fields become the JSON body the API takes (`form_body`), validated by the same
`EstimateRequest` schema and answered by the same `service.estimates.service.answer` and
`picture`, so every figure on the page is the API's. A body the schema refuses raises the
`InvalidInput` the API's handler would answer with (same detail, one entry per bad value); the
estimator's own refusals (unknown model, a model without a shape, offload below ZeRO stage 3...)
are the API's `InvalidInput` already. Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from service.errors import InvalidInput
from service.estimates import schemas as s
from service.estimates import service as estimates
from service.estimates.choices import Method, OffloadDevice, Optimizer, Precision, Profile
from service.estimates.entities import catalog_model, memory_bytes
from service.estimates.errors import EstimateError
from service.offerings import service as offerings
from service.snapshot import Snapshot

FIELDS = (
    "model", "technique", "lora_rank", "quant_bits", "precision", "optimizer", "gpus",
    "zero_stage", "offload_optimizer", "offload_params", "micro_batch", "seq_len",
    "gradient_checkpointing", "profile",
)  # fmt: skip
"""The single-valued query parameters of the form (`hardware` repeats)."""
CHOICES: dict[str, tuple[str, ...]] = {
    "technique": tuple(Method),
    "precision": tuple(Precision),
    "optimizer": tuple(Optimizer),
    "zero_stage": ("0", "1", "2", "3"),
    "offload_optimizer": tuple(OffloadDevice),
    "offload_params": tuple(OffloadDevice),
    "profile": tuple(Profile),
    "quant_bits": ("", "4", "8"),
}
"""The values each select of the form offers (the API's accepted spellings)."""
DEFAULTS = {
    "technique": s.TechniqueIn().method.value,
    "precision": s.NumericsIn().precision.value,
    "optimizer": s.NumericsIn().optimizer.value,
    "zero_stage": str(s.ParallelismIn().zero_stage),
    "offload_optimizer": s.OffloadIn().optimizer.value,
    "offload_params": s.OffloadIn().params.value,
    "profile": s.EstimateRequest.model_fields["profile"].get_default().value,
    "quant_bits": "",
}
"""What each select shows when the URL does not say: the API's own defaults."""
COMPONENTS = (
    ("weights", "Weights"),
    ("gradients", "Gradients"),
    ("optimizer_states", "Optimizer states"),
    ("activations", "Activations"),
    ("quantization", "Quantization constants"),
    ("other", "Other (buffers, CUDA context, fragmentation)"),
)
"""The per-GPU components, in the answer's order, with what the page calls them."""


@dataclass(frozen=True, slots=True)
class Form:
    """The form's values as the URL gives them (empty string: not given)."""

    values: Mapping[str, str]
    hardware: tuple[str, ...]

    def get(self, name: str) -> str:
        """The value of one field, stripped ('' when absent)."""
        return self.values.get(name, "").strip()

    @property
    def asked(self) -> bool:
        """Whether an estimate was asked for (a model is named)."""
        return bool(self.get("model"))


def read_form(items: Sequence[tuple[str, str]]) -> Form:
    """The form from query parameters; repeated single-valued fields keep their first value."""
    values: dict[str, str] = {}
    hardware: list[str] = []
    for key, value in items:
        if key == "hardware":
            if value.strip() and value.strip() not in hardware:
                hardware.append(value.strip())
        elif key in FIELDS:
            values.setdefault(key, value)
    return Form(values, tuple(hardware))


def _number(value: str) -> int | str:
    # The API takes JSON numbers; text that is not one goes through, so the schema refuses it
    # with the message a JSON string there would get.
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value


def form_body(form: Form) -> dict[str, Any]:
    """The JSON body of `POST /v1/estimates` the form stands for: a field left empty is left
    out (the API's default applies); LoRA rank and quantization bits go with the technique
    whatever it is, so the API says when they do not apply."""
    body: dict[str, Any] = {"model": form.get("model")}
    technique: dict[str, Any] = {}
    if form.get("technique"):
        technique["method"] = form.get("technique")
    if form.get("lora_rank"):
        technique["lora"] = {"rank": _number(form.get("lora_rank"))}
    if form.get("quant_bits"):
        technique["quantization"] = {"bits": _number(form.get("quant_bits"))}
    numerics = {k: form.get(k) for k in ("precision", "optimizer") if form.get(k)}
    parallelism: dict[str, Any] = {
        k: _number(form.get(k)) for k in ("gpus", "zero_stage") if form.get(k)
    }
    offload = {
        k: form.get(f"offload_{k}") for k in ("optimizer", "params") if form.get(f"offload_{k}")
    }
    if offload:
        parallelism["offload"] = offload
    activations: dict[str, Any] = {
        k: _number(form.get(k)) for k in ("seq_len", "micro_batch") if form.get(k)
    }
    checkpointing = form.get("gradient_checkpointing")
    if checkpointing:
        # The checkbox sends "true"; any other text goes to the schema as it is, to be judged.
        activations["gradient_checkpointing"] = {"true": True, "false": False}.get(
            checkpointing, checkpointing
        )
    parts = {"technique": technique, "numerics": numerics, "parallelism": parallelism,
             "activations": activations}  # fmt: skip
    body.update({k: v for k, v in parts.items() if v})
    if form.get("profile"):
        body["profile"] = form.get("profile")
    if form.hardware:
        body["hardware"] = list(form.hardware)
    return body


def _entry(error: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "location": ".".join(["body", *(str(part) for part in error.get("loc", ()))]),
        "message": str(error.get("msg", "invalid value")),
    }
    expected = (error.get("ctx") or {}).get("expected")
    if isinstance(expected, str):
        entry["allowed"] = [p.strip(" '") for p in expected.replace(" or ", ", ").split(",")]
    return entry


def validate(body: Mapping[str, Any]) -> s.EstimateRequest:
    """`body` read by the API's schema, or the API's 422 for it: "Invalid value in ..." with
    each bad value's location and message, as `POST /v1/estimates` answers."""
    try:
        return s.EstimateRequest.model_validate(body)
    except ValidationError as exc:
        entries = [_entry(e) for e in exc.errors()]
        where = ", ".join(e["location"] for e in entries) or "request"
        raise InvalidInput(f"Invalid value in {where}.", errors=entries) from None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the per-GPU table."""

    label: str
    bytes: int
    subtotal: bool = False


@dataclass(frozen=True, slots=True)
class FitRow:
    """The verdict on one GPU asked about."""

    hardware: str
    name: str
    fit: s.FitOut


@dataclass(frozen=True, slots=True)
class EstimateView:
    """What the page shows of one answer of `POST /v1/estimates`."""

    answer: s.EstimateAnswer
    rows: list[Row]
    fits: list[FitRow]
    picture: Markup

    def human(self, n: int, digits: int = 2) -> str:
        """`n` bytes in the answer's unit (GB or GiB), e.g. '15.93 GiB'."""
        unit = self.answer.unit
        return f"{n / unit.bytes:,.{digits}f} {unit.symbol}"


def estimate_view(snap: Snapshot, body: Mapping[str, Any]) -> EstimateView:
    """The API's answer and picture for `body`, or its InvalidInput (422)."""
    request = validate(body)
    data = estimates.records(snap)
    answer = estimates.answer(data, request)
    # render_svg escapes every text it draws: the markup is safe to inline.
    picture = Markup(estimates.picture(data, request))  # noqa: S704
    gpu = answer.per_gpu
    rows = [Row(label, getattr(gpu, key)) for key, label in COMPONENTS]
    rows += [Row("Model states (weights + gradients + optimizer states)", gpu.model_states, True),
             Row("Total per GPU", gpu.total, True)]  # fmt: skip
    fits = []
    for fit in answer.fits:
        found = offerings.find(snap, "hardware", fit.hardware)
        fits.append(FitRow(fit.hardware, str(found.data["name"]) if found else fit.hardware, fit))
    return EstimateView(answer, rows, fits, picture)


@dataclass(frozen=True, slots=True)
class Options:
    """What the form's selects offer: models (with whether they have a shape) and GPUs (with
    their memory as stated, None where the data gives none)."""

    models: list[tuple[str, str, bool]]
    gpus: list[tuple[str, str, str | None]]


def _estimable(record: Mapping[str, Any]) -> bool:
    try:
        catalog_model(record)
    except EstimateError:
        return False
    return True


def options(snap: Snapshot) -> Options:
    """The models and GPUs of the snapshot's revision, in id order, judged as the estimator
    judges them (a model it cannot size by id; a GPU whose memory the data does not state)."""
    data = estimates.records(snap)
    models = [(str(m["id"]), str(m["name"]), _estimable(m)) for m in data.models]
    gpus = [
        (str(h["id"]), str(h["name"]), h.get("memory_stated") if memory_bytes(h) else None)
        for h in data.hardware
        if h.get("kind") == "gpu"
    ]
    return Options(models, gpus)
