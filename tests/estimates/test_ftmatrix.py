"""The default profile: ZeRO's model states, sharding, offload, allowances, notes."""

from __future__ import annotations

import pytest

from service.estimates import (
    Accounting,
    Activations,
    Component,
    FsdpStrategy,
    LoraSpec,
    Method,
    Model,
    Numerics,
    Offload,
    OffloadDevice,
    Optimizer,
    Parallelism,
    Place,
    Precision,
    Profile,
    Quantization,
    Technique,
)
from service.estimates.inputs import CUDA_CONTEXT_BYTES
from tests.estimates.helpers import run, states_only
from tests.estimates.published_models import LLAMA_7B

SEVEN_B = Model(shape=LLAMA_7B)
P = 6_738_415_616


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_model_states_match_the_zero_paper(stage: int) -> None:
    par = Parallelism(gpus=16, zero_stage=stage)
    ours = run(Model(params=P), parallelism=par, accounting=states_only())
    paper = run(Model(params=P), parallelism=par, accounting=Accounting(profile=Profile.ZERO_PAPER))
    assert ours.per_gpu.model_states == paper.per_gpu.total
    assert ours.per_gpu.total == paper.per_gpu.total  # no shape: no gathered layer counted
    assert "gathered-layer" in ours.topics() or stage < 3


@pytest.mark.parametrize(
    ("precision", "optimizer", "per_param"),
    [
        (Precision.BF16_MIXED, Optimizer.ADAMW, 16),  # ZeRO: 2 + 2 + 12
        (Precision.FP32, Optimizer.ADAMW, 16),  # 4 + 4 + 8
        (Precision.BF16, Optimizer.ADAMW, 8),  # LLaMA-Factory pure bf16: 8 GB per 1B
        (Precision.BF16_MIXED, Optimizer.ADAMW_8BIT, 10),  # 2 + 2 + 4 master + 2
        (Precision.FP16_MIXED, Optimizer.SGD, 12),  # 2 + 2 + 4 master + 4 momentum
        (Precision.BF16, Optimizer.ADAFACTOR, 6),  # 2 + 2 + 2
    ],
)
def test_bytes_per_parameter(precision: Precision, optimizer: Optimizer, per_param: int) -> None:
    result = run(
        Model(params=10**9),
        numerics=Numerics(precision=precision, optimizer=optimizer),
        accounting=states_only(),
    )
    assert result.per_gpu.total == per_param * 10**9


def test_optimizer_offload_moves_states_to_each_node() -> None:
    par = Parallelism(
        nodes=2, gpus_per_node=4, zero_stage=2, offload=Offload(optimizer=OffloadDevice.CPU)
    )
    result = run(Model(params=8 * 10**9), parallelism=par, accounting=states_only())
    assert result.per_gpu.total == result.per_gpu.weights == 16 * 10**9  # fp16 weights only
    cpu = result.per_node_cpu
    assert cpu.optimizer_states == 12 * 8 * 10**9 // 8 * 4  # each GPU's shard, 4 GPUs a node
    assert cpu.gradients == 4 * 8 * 10**9 // 8 * 4  # offloaded gradients are fp32
    assert "offload" in result.topics()


def test_nvme_offload_at_stage_3() -> None:
    nvme = OffloadDevice.NVME
    par = Parallelism(gpus=8, zero_stage=3, offload=Offload(optimizer=nvme, params=nvme))
    result = run(SEVEN_B, parallelism=par, accounting=states_only())
    # One node of 8 GPUs holds all eight shards: the whole model's states.
    assert result.per_node_nvme.optimizer_states == 12 * P
    assert result.per_node_nvme.weights == 2 * P
    assert result.per_node_cpu.gradients == 4 * P  # fp32 gradients stay in CPU memory
    assert result.per_gpu.weights == 0
    gathered = [t for t in result.terms if t.label.startswith("gathered")]
    assert [t.bytes for t in gathered] == [32000 * 4096 * 2]  # the whole embedding, fetched


def test_fsdp_full_shard_and_cpu_offload() -> None:
    fsdp = Parallelism(gpus=8, fsdp=FsdpStrategy.FULL_SHARD)
    zero3 = Parallelism(gpus=8, zero_stage=3)
    a = run(SEVEN_B, parallelism=fsdp, accounting=states_only()).per_gpu
    b = run(SEVEN_B, parallelism=zero3, accounting=states_only()).per_gpu
    assert a.model_states == b.model_states
    assert a.other > b.other  # FSDP gathers a whole decoder block, ZeRO-3 the largest layer
    offload = Parallelism(
        gpus=8, fsdp=FsdpStrategy.FULL_SHARD, offload=Offload(params=OffloadDevice.CPU)
    )
    moved = run(SEVEN_B, parallelism=offload, accounting=states_only())
    assert moved.per_gpu.model_states == 0
    cpu = moved.per_node_cpu
    assert (cpu.weights, cpu.gradients, cpu.optimizer_states) == (2 * P, 4 * P, 12 * P)
    assert "fsdp-mapping" in moved.topics()


def test_hybrid_shard_shards_within_a_node() -> None:
    hybrid = Parallelism(nodes=4, gpus_per_node=8, fsdp=FsdpStrategy.HYBRID_SHARD)
    within = Parallelism(gpus=8, fsdp=FsdpStrategy.FULL_SHARD)
    a = run(SEVEN_B, parallelism=hybrid, accounting=states_only()).per_gpu.model_states
    b = run(SEVEN_B, parallelism=within, accounting=states_only()).per_gpu.model_states
    assert a == b


def test_tensor_parallel_splits_states_and_activations() -> None:
    batch = Activations(seq_len=2048)
    one = run(SEVEN_B, activations=batch, accounting=states_only()).per_gpu
    four = run(
        SEVEN_B,
        parallelism=Parallelism(gpus=4, tensor_parallel=4),
        activations=batch,
        accounting=states_only(),
    ).per_gpu
    assert four.model_states == pytest.approx(one.model_states / 4, rel=1e-6)
    assert four.activations < one.activations


def test_allowances_are_explicit_terms() -> None:
    result = run(SEVEN_B)
    other = {t.label: t.bytes for t in result.terms if t.component is Component.OTHER}
    assert other["allowance: CUDA context"] == CUDA_CONTEXT_BYTES
    counted = result.per_gpu.total - sum(other.values())
    assert other["allowance: allocator fragmentation"] == pytest.approx(0.1 * counted, abs=1)
    assert "allowance" in result.topics()
    bare = run(SEVEN_B, accounting=states_only())
    assert not [t for t in bare.terms if t.label.startswith("allowance")]


def test_dora_counts_its_transient_and_qdora_its_dequantized_weight() -> None:
    spec = LoraSpec(rank=16, targets=("q_proj", "v_proj"))
    dora = run(SEVEN_B, technique=Technique(Method.DORA, lora=spec), accounting=states_only())
    transient = [t for t in dora.terms if t.label.startswith("DoRA transient")]
    assert [t.bytes for t in transient] == [4096 * 4096 * 2]
    qdora = run(
        SEVEN_B,
        technique=Technique(Method.DORA, lora=spec, quantization=Quantization()),
        accounting=states_only(),
    )
    assert [t.bytes for t in qdora.terms if t.label.startswith("DoRA")] == [4096 * 4096 * 4]


def test_disagreements_and_caveats_follow_the_input() -> None:
    stage1 = run(
        SEVEN_B,
        parallelism=Parallelism(gpus=2, zero_stage=1, offload=Offload(optimizer=OffloadDevice.CPU)),
    )
    assert "disagreement-11" in stage1.topics()
    qlora_offload = run(
        SEVEN_B,
        technique=Technique(Method.QLORA),
        parallelism=Parallelism(gpus=2, zero_stage=3, offload=Offload(optimizer=OffloadDevice.CPU)),
    )
    caveat = next(a for a in qlora_offload.assumptions if a.topic == "disagreement-10")
    assert caveat.kind.value == "caveat"
    assert "disagreement-4" not in qlora_offload.topics()  # full fine-tuning baselines only
    plain = run(SEVEN_B)
    assert {"disagreement-1", "no-activations", "allowance"} <= set(plain.topics())
    assert all(a.source for a in plain.assumptions)
    assert all(t.source and t.formula for t in plain.terms)


def test_at_returns_each_place() -> None:
    result = run(SEVEN_B)
    assert result.at(Place.GPU) is result.per_gpu
    assert result.at(Place.CPU) is result.per_node_cpu
    assert result.at(Place.NVME) is result.per_node_nvme
