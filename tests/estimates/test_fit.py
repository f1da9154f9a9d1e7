"""fits() and the cheapest change that makes a job fit (the CI rule 'does not fit')."""

from __future__ import annotations

import pytest

from service.estimates import (
    Accounting,
    Activations,
    EstimateInput,
    FsdpStrategy,
    Method,
    Model,
    OffloadDevice,
    Parallelism,
    Profile,
    Technique,
    cheapest_fix,
    estimate,
    fits,
)
from tests.estimates.helpers import GB
from tests.estimates.published_models import GPT2_XL, LLAMA_7B, LLAMA_65B

SEVEN_B = Model(shape=LLAMA_7B)
GPT2 = Model(shape=GPT2_XL)


def batch(micro_batch: int, checkpointing: bool = False, seq_len: int = 2048) -> Activations:
    return Activations(
        seq_len=seq_len,
        micro_batch=micro_batch,
        gradient_checkpointing=checkpointing,
        flash_attention=True,
    )


def test_fits_reports_headroom() -> None:
    result = estimate(EstimateInput(model=SEVEN_B))
    total = result.per_gpu.total
    assert fits(result, total) == (True, 0)
    assert fits(result, total + 5) == (True, 5)
    assert fits(result, total - 5) == (False, -5)


@pytest.mark.parametrize(
    ("inp", "memory", "change"),
    [
        (
            EstimateInput(
                model=SEVEN_B, parallelism=Parallelism(gpus=8), activations=batch(1, True)
            ),
            80 * GB,
            "ZeRO stage 1 instead of 0",
        ),
        (
            EstimateInput(model=GPT2, activations=batch(1, True, seq_len=1024)),
            12 * GB,
            "ZeRO stage 1 with optimizer offload to CPU",
        ),
        (
            EstimateInput(model=SEVEN_B, technique=Technique(Method.LORA), activations=batch(8)),
            40 * GB,
            "gradient checkpointing",
        ),
        (
            EstimateInput(
                model=SEVEN_B, technique=Technique(Method.LORA), activations=batch(1, True)
            ),
            12 * GB,
            "QLoRA (4-bit NF4 base) instead of lora",
        ),
        (
            EstimateInput(
                model=SEVEN_B, technique=Technique(Method.QLORA), activations=batch(32, True)
            ),
            24 * GB,
            "micro-batch 8 instead of 32",
        ),
    ],
    ids=["zero-stage", "offload", "checkpointing", "qlora", "micro-batch"],
)
def test_the_cheapest_single_change(inp: EstimateInput, memory: int, change: str) -> None:
    fix = cheapest_fix(inp, memory)
    assert fix is not None
    assert fix.changes == (change,)
    assert fits(fix.estimate, memory) == (True, fix.headroom_bytes)
    assert estimate(fix.input) == fix.estimate
    assert not fits(estimate(inp), memory)[0]


def test_micro_batch_keeps_the_largest_that_fits() -> None:
    inp = EstimateInput(
        model=SEVEN_B, technique=Technique(Method.QLORA), activations=batch(32, True)
    )
    fix = cheapest_fix(inp, 24 * GB)
    assert fix is not None
    assert fix.input.activations is not None
    larger = EstimateInput(
        model=SEVEN_B, technique=Technique(Method.QLORA), activations=batch(16, True)
    )
    assert not fits(estimate(larger), 24 * GB)[0]


def test_changes_combine_when_none_suffices_alone() -> None:
    fix = cheapest_fix(EstimateInput(model=SEVEN_B, activations=batch(8)), 16 * GB)
    assert fix is not None
    assert fix.changes == (
        "ZeRO stage 1 with optimizer offload to CPU",
        "gradient checkpointing",
        "QLoRA (4-bit NF4 base) instead of full",
    )
    assert fix.input.technique.method is Method.QLORA
    assert fix.input.parallelism.offload.optimizer is OffloadDevice.CPU


def test_fsdp_jobs_get_fsdp_changes() -> None:
    inp = EstimateInput(
        model=SEVEN_B,
        parallelism=Parallelism(gpus=8, fsdp=FsdpStrategy.NO_SHARD),
        activations=batch(1, True),
    )
    fix = cheapest_fix(inp, 80 * GB)
    assert fix is not None
    assert fix.changes == ("FSDP SHARD_GRAD_OP instead of NO_SHARD",)


def test_nothing_to_fix_or_nothing_helps() -> None:
    assert cheapest_fix(EstimateInput(model=SEVEN_B), 10**15) is None
    assert cheapest_fix(EstimateInput(model=Model(shape=LLAMA_65B)), 8 * GB) is None


def test_options_a_profile_cannot_count_are_skipped() -> None:
    # The zero-paper profile counts neither offload nor QLoRA, so only stages can help.
    inp = EstimateInput(
        model=Model(params=7_500_000_000),
        parallelism=Parallelism(gpus=64),
        accounting=Accounting(profile=Profile.ZERO_PAPER),
    )
    fix = cheapest_fix(inp, 20 * GB)
    assert fix is not None
    assert fix.changes == ("ZeRO stage 2 instead of 0",)
    assert cheapest_fix(inp, 10**9) is None
