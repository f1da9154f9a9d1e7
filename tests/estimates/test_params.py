"""Parameter counts: the LoRA paper's Table 13, PEFT's printed totals, DoRA's shares."""

from __future__ import annotations

import math

import pytest

from service.estimates import LoraSpec, Method, Model, Numerics, Precision, Technique
from service.estimates.shapes import lora_params, magnitude_params, shape_params
from tests.estimates.helpers import GB, lora, run, states_only
from tests.estimates.published_models import GPT3_175B, LLAMA_7B, QWEN25_3B

QV, QKVO = ("q_proj", "v_proj"), ("q_proj", "k_proj", "v_proj", "o_proj")

# LoRA paper Table 13 (GPT-3 175B): adapted matrices and rank -> trainable params as printed,
# truncated to 0.1M (18.874M -> 18.8M, 301.99M -> 301.9M; memory-formulas.md §5).
TABLE_13 = [
    (QV, 1, "4.7"),
    (("v_proj",), 2, "4.7"),
    (QV, 2, "9.4"),
    (QKVO, 1, "9.4"),
    (QV, 4, "18.8"),
    (QKVO, 2, "18.8"),
    (QV, 8, "37.7"),
    (QKVO, 4, "37.7"),
    (QV, 64, "301.9"),
]


@pytest.mark.parametrize(("targets", "rank", "millions"), TABLE_13, ids=str)
def test_lora_table_13(targets: tuple[str, ...], rank: int, millions: str) -> None:
    result = lora(GPT3_175B, rank, *targets)
    assert math.floor(result.trainable_params / 1e5) / 10 == float(millions)
    # |Θ| = 2 x L̂ x d_model x r for d_model x d_model matrices.
    assert result.trainable_params == 2 * len(targets) * 96 * 12288 * rank


def test_lora_gpt3_frozen_weights_are_350_gb() -> None:
    # §4.2: with r = 4 on q and v, training VRAM fell to 350 GB: 175e9 x 2 B of fp16 weights.
    result = run(
        Model(params=175_000_000_000, shape=GPT3_175B),
        technique=Technique(Method.LORA, lora=LoraSpec(rank=4, targets=QV)),
        accounting=states_only(),
    )
    assert round(result.per_gpu.weights / GB) == 350
    # §7.1: "18M (roughly 35MB if stored in FP16)": 18.87M x 2 B = 36.0 MiB.
    assert 35 <= result.trainable_params * 2 / 2**20 < 36.5


def test_peft_quick_start_qwen25_3b() -> None:
    # PEFT README: LoraConfig(r=16) with qwen2's default targets (q_proj, v_proj) prints
    # "trainable params: 3,686,400 || all params: 3,089,625,088".
    result = lora(QWEN25_3B, 16, *QV)
    assert result.trainable_params == 3_686_400
    assert result.params == 3_089_625_088


def test_llama_7b_parameter_count() -> None:
    assert shape_params(LLAMA_7B) == 6_738_415_616


QKV_UD = ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")


@pytest.mark.parametrize(
    ("method", "rank", "percent"),
    [(Method.LORA, 32, "0.83"), (Method.DORA, 32, "0.84"), (Method.DORA, 16, "0.43")],
    ids=["lora", "dora", "dora-half-rank"],
)
def test_dora_table_1_shares(method: Method, rank: int, percent: str) -> None:
    # DoRA Table 1, LLaMA-7B adapting Q, K, V, Up, Down; the share is over all parameters,
    # the adapter included (memory-formulas.md §7).
    result = lora(LLAMA_7B, rank, *QKV_UD, method=method)
    assert f"{100 * result.trainable_share:.2f}" == percent


def test_dora_table_6_share() -> None:
    # Table 6: magnitudes on Q, K, V, O, Gate, Up, Down; direction (LoRA, r = 32) on Q, K, V.
    trained = lora_params(LLAMA_7B, 32, ("q_proj", "k_proj", "v_proj")) + magnitude_params(
        LLAMA_7B, ("all-linear",)
    )
    share = trained / (shape_params(LLAMA_7B) + trained)
    assert f"{100 * share:.2f}" == "0.39"


def test_dora_adds_one_magnitude_per_output_feature() -> None:
    plain = lora(LLAMA_7B, 8, *QV).trainable_params
    dora = lora(LLAMA_7B, 8, *QV, method=Method.DORA).trainable_params
    assert dora - plain == 32 * (4096 + 4096)


def test_full_fine_tuning_trains_everything() -> None:
    result = run(Model(shape=LLAMA_7B), numerics=Numerics(precision=Precision.FP32))
    assert result.trainable_params == result.params == 6_738_415_616
    assert result.trainable_share == 1.0
