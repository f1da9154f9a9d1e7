"""The ZeRO paper's model-state figures under the zero-paper profile (GB = 10^9 bytes)."""

from __future__ import annotations

import pytest

from service.estimates import Accounting, Model, Parallelism, Profile
from tests.estimates.helpers import GB, printed, run, truncated

ZERO = Accounting(profile=Profile.ZERO_PAPER)


def per_gpu_gb(params: float, gpus: int, stage: int) -> float:
    result = run(
        Model(params=int(params)),
        parallelism=Parallelism(gpus=gpus, zero_stage=stage),
        accounting=ZERO,
    )
    assert result.unit.bytes == GB
    return result.per_gpu.total / GB


# Table I cells as memory-formulas.md §1 quotes them: (Ψ, DP) -> (P_os, P_os+g, P_os+g+p).
TABLE_I = {
    (7.5e9, 4): ("52.5", "41.3", "30"),
    (7.5e9, 16): ("35.6", "21.6", "7.5"),
    (7.5e9, 64): ("31.4", "16.6", "1.88"),
    (7.5e9, 256): ("30.4", "15.4", "0.47"),
    (7.5e9, 1024): ("30.1", "15.1", "0.12"),
    (128e9, 64): ("536", "284", "32"),
    (1e12, 64): ("4187", "2218", "250"),
}


@pytest.mark.parametrize(("cell", "printed_values"), TABLE_I.items(), ids=str)
def test_table_i(cell: tuple[float, int], printed_values: tuple[str, str, str]) -> None:
    params, dp = cell
    for stage, text in zip((1, 2, 3), printed_values, strict=True):
        value = per_gpu_gb(params, dp, stage)
        # The paper rounds small values and truncates values of 100 GB and more.
        check = truncated if value >= 100 else printed
        assert check(value, text), (cell, stage, value, text)


def test_table_i_truncates_large_values() -> None:
    # 128B over 1024 GPUs: 513.5 and 257.75 are printed 513 and 257 (memory-formulas.md §1).
    assert truncated(per_gpu_gb(128e9, 1024, 1), "513")
    assert truncated(per_gpu_gb(128e9, 1024, 2), "257")
    # Rounding would print 2218.75 as 2219; Table I prints 2218 (1T over 64 GPUs, P_os+g).
    assert not printed(per_gpu_gb(1e12, 64, 2), "2218")


def test_table_i_data_parallel_one_is_the_baseline() -> None:
    for stage in (0, 1, 2, 3):
        assert per_gpu_gb(7.5e9, 1, stage) == 120.0


def test_figure_1_7_5b_on_64_gpus() -> None:
    figures = [per_gpu_gb(7.5e9, 64, stage) for stage in (0, 1, 2, 3)]
    assert all(printed(v, t) for v, t in zip(figures, ("120", "31.4", "16.6", "1.9"), strict=True))
    assert figures == [120.0, 31.40625, 16.640625, 1.875]


def test_components_follow_the_stage_formulas() -> None:
    gpu = run(
        Model(params=7_500_000_000), parallelism=Parallelism(gpus=64, zero_stage=2), accounting=ZERO
    ).per_gpu
    assert gpu.weights == 2 * 7_500_000_000  # fp16 parameters, not sharded below stage 3
    assert gpu.gradients == 2 * 7_500_000_000 // 64
    assert gpu.optimizer_states == 12 * 7_500_000_000 // 64
    assert gpu.activations == 0
    assert gpu.model_states == gpu.total


def test_gpt2_model_states_and_the_1t_example() -> None:
    # §3.1: GPT-2 1.5B needs at least 24 GB of model states against 3 GB of fp16 parameters.
    gpt2 = run(Model(params=1_500_000_000), accounting=ZERO).per_gpu
    assert (gpt2.total, gpt2.weights) == (24 * GB, 3 * GB)
    # 1T parameters over 1024 GPUs: 16 TB / 1024 = 16 GB (Table I prints 15.6).
    assert printed(per_gpu_gb(1e12, 1024, 3), "15.6")


def test_notes_say_what_is_followed() -> None:
    result = run(Model(params=10**9), accounting=ZERO)
    assert {"disagreement-1", "model-states-only", "units"} <= set(result.topics())
