"""The accounting profiles, described, and `estimate`, which dispatches to the chosen one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from service.estimates.choices import Profile
from service.estimates.ftmatrix import estimate_ftmatrix
from service.estimates.inputs import EstimateInput
from service.estimates.published import (
    GIB_AS_GB,
    estimate_accelerate,
    estimate_deepspeed,
    estimate_zero_paper,
)
from service.estimates.result import GB, GIB, Estimate, Unit
from service.estimates.sources import (
    ACCELERATE,
    DEEPSPEED_ZERO2,
    DEEPSPEED_ZERO3,
    KORTHIKANTI,
    ZERO,
)


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """What a profile counts, in which unit its source prints, and where it comes from."""

    profile: Profile
    title: str
    unit: Unit
    counts: str
    source: str
    compute: Callable[[EstimateInput], Estimate] = field(repr=False, compare=False)
    """The profile's counting function (what `estimate` calls)."""


PROFILES: Mapping[Profile, ProfileInfo] = MappingProxyType(
    {
        Profile.FTMATRIX: ProfileInfo(
            Profile.FTMATRIX,
            "ftmatrix (default)",
            GIB,
            "Model states for full, LoRA, DoRA and QLoRA fine-tuning under ZeRO 0-3, FSDP, "
            "offload and tensor parallelism; activations (Korthikanti et al., with the "
            "recomputation variants); quantization constants; the CUDA context and "
            "fragmentation as explicit allowances.",
            f"{ZERO}; {KORTHIKANTI}",
            estimate_ftmatrix,
        ),
        Profile.ZERO_PAPER: ProfileInfo(
            Profile.ZERO_PAPER,
            "ZeRO paper",
            GB,
            "(2 + 2 + K)Ψ with K = 12 and the stage formulas: model states of full "
            "mixed-precision Adam training only, GB = 10^9 bytes.",
            ZERO,
            estimate_zero_paper,
        ),
        Profile.DEEPSPEED: ProfileInfo(
            Profile.DEEPSPEED,
            "DeepSpeed estimators",
            GIB_AS_GB,
            "estimate_zero2_* / estimate_zero3_* of current DeepSpeed: model states per GPU and "
            "per node's CPU, with the buffer factor and the zero.Init variants, in GiB (printed "
            "as GB).",
            f"{DEEPSPEED_ZERO2}; {DEEPSPEED_ZERO3}",
            estimate_deepspeed,
        ),
        Profile.ACCELERATE: ProfileInfo(
            Profile.ACCELERATE,
            "accelerate estimate-memory",
            GIB_AS_GB,
            "'Training using Adam': the largest single component of a batch of 1, from the fp32 "
            "size of parameters and buffers.",
            ACCELERATE,
            estimate_accelerate,
        ),
    }
)
"""Every profile, keyed by name."""


def estimate(inp: EstimateInput) -> Estimate:
    """Estimate the memory `inp` needs, per GPU and per node, under its accounting profile.

    Raises EstimateError for an input the profile cannot count (e.g. LoRA under the deepspeed
    profile), naming the field and what would be accepted.
    """
    return PROFILES[inp.accounting.profile].compute(inp)
