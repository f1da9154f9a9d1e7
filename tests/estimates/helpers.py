"""Small builders and the published-rounding comparisons the estimator tests share."""

from __future__ import annotations

import math

from service.estimates import (
    Accounting,
    Activations,
    Estimate,
    EstimateInput,
    LoraSpec,
    Method,
    Model,
    ModelShape,
    Numerics,
    Parallelism,
    Profile,
    Technique,
    estimate,
)

GB = 10**9
GIB = 2**30
MIB = 2**20


def states_only(profile: Profile = Profile.FTMATRIX) -> Accounting:
    """Accounting without the ftmatrix allowances, so model states can be compared exactly."""
    return Accounting(profile=profile, cuda_context_bytes=0, fragmentation=0.0)


def run(
    model: Model,
    *,
    technique: Technique | None = None,
    numerics: Numerics | None = None,
    parallelism: Parallelism | None = None,
    activations: Activations | None = None,
    accounting: Accounting | None = None,
) -> Estimate:
    """Estimate with the given parts (defaults elsewhere)."""
    return estimate(
        EstimateInput(
            model=model,
            technique=technique or Technique(),
            numerics=numerics or Numerics(),
            parallelism=parallelism or Parallelism(),
            activations=activations,
            accounting=accounting or Accounting(),
        )
    )


def lora(shape: ModelShape, rank: int, *targets: str, method: Method = Method.LORA) -> Estimate:
    """Model states of a LoRA-family job on one GPU, no allowances."""
    return run(
        Model(shape=shape),
        technique=Technique(method, lora=LoraSpec(rank=rank, targets=targets)),
        accounting=states_only(),
    )


def printed(value: float, text: str) -> bool:
    """Whether `value` prints as `text` under round-half-up to text's decimals."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10.0**-decimals + 1e-9


def truncated(value: float, text: str) -> bool:
    """Whether `value` truncated to text's decimals is `text` (the LoRA paper's and the ZeRO
    paper's large figures; DeepSpeed's `>> 20`)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    scale = 10.0**decimals
    return math.floor(value * scale + 1e-9) == round(float(text) * scale)
