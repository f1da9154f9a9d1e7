"""Will it fit? Memory estimates for fine-tuning, per GPU and per node, that reproduce the papers.

Pure functions over plain data (standard library only): no I/O, no database, no web framework,
so the CLI can run them offline and the router can mirror the inputs in its schemas.

    from service.estimates import EstimateInput, Model, ModelShape, estimate, fits

    shape = ModelShape(layers=32, hidden=4096, heads=32, vocab=32000, intermediate=11008)
    result = estimate(EstimateInput(model=Model(shape=shape)))
    result.per_gpu.total           # bytes on each GPU
    fits(result, 80 * 2**30)       # (True/False, headroom in bytes)

- `estimate(EstimateInput) -> Estimate`: bytes per GPU and per node's CPU/NVMe by component
  (weights, gradients, optimizer states, activations, quantization constants, other), model
  states and total; total and trainable parameters; every term with its formula and source;
  the assumptions, and where sources disagree, which one is followed.
- `PROFILES`: the accounting profiles (`ftmatrix`, the default; `zero-paper`; `deepspeed`;
  `accelerate`), each with the unit its source prints in. Choose one with
  `EstimateInput(accounting=Accounting(profile=...))`.
- `fits(estimate, memory_bytes) -> (fits, headroom_bytes)` and
  `cheapest_fix(input, memory_bytes) -> Fix | None`, the first change, in order of cost, that
  makes a job fit.
- `render_svg(...)`: a stacked bar per GPU by component, with GPU memory sizes as lines.

Bad input raises `EstimateError` (a ValueError) with `field`, `allowed` and a message.
"""

from service.estimates.choices import (
    Component,
    FsdpStrategy,
    Method,
    NoteKind,
    OffloadDevice,
    Optimizer,
    Place,
    Precision,
    Profile,
    QuantType,
)
from service.estimates.errors import EstimateError
from service.estimates.fit import Fix, cheapest_fix, fits
from service.estimates.inputs import (
    Accounting,
    Activations,
    EstimateInput,
    LoraSpec,
    Model,
    ModelShape,
    Numerics,
    Offload,
    Parallelism,
    Quantization,
    Technique,
)
from service.estimates.profiles import PROFILES, ProfileInfo, estimate
from service.estimates.result import Assumption, Breakdown, Estimate, Term, Unit
from service.estimates.svg import render_svg

__all__ = [
    "PROFILES",
    "Accounting",
    "Activations",
    "Assumption",
    "Breakdown",
    "Component",
    "Estimate",
    "EstimateError",
    "EstimateInput",
    "Fix",
    "FsdpStrategy",
    "LoraSpec",
    "Method",
    "Model",
    "ModelShape",
    "NoteKind",
    "Numerics",
    "Offload",
    "OffloadDevice",
    "Optimizer",
    "Parallelism",
    "Place",
    "Precision",
    "Profile",
    "ProfileInfo",
    "QuantType",
    "Quantization",
    "Technique",
    "Term",
    "Unit",
    "cheapest_fix",
    "estimate",
    "fits",
    "render_svg",
]
