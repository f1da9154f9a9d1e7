"""Properties that hold for every input: memory per GPU never grows when a ZeRO stage rises,
when offload is added, when GPUs are added at stage 3, or when LoRA replaces full
fine-tuning (ranks up to a quarter of the smallest adapted dimension)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from service.estimates import (
    Accounting,
    Activations,
    EstimateInput,
    FsdpStrategy,
    LoraSpec,
    Method,
    Model,
    ModelShape,
    Numerics,
    Offload,
    OffloadDevice,
    Optimizer,
    Parallelism,
    Precision,
    Profile,
    Quantization,
    Technique,
    estimate,
)

# No example database: the tests leave no .hypothesis folder behind.
CHECK = settings(max_examples=60, deadline=None, database=None)


@st.composite
def shapes(draw: st.DrawFn) -> ModelShape:
    heads = draw(st.sampled_from([1, 2, 4, 8]))
    kv = draw(st.sampled_from([k for k in (1, 2, 4, 8) if heads % k == 0]))
    head_dim = draw(st.sampled_from([8, 16, 32, 64]))
    return ModelShape(
        layers=draw(st.integers(1, 6)),
        hidden=heads * head_dim,
        heads=heads,
        kv_heads=kv,
        vocab=draw(st.integers(16, 4000)),
        intermediate=draw(st.integers(2, 64)) * 8,
        gated_mlp=draw(st.booleans()),
        tied_embeddings=draw(st.booleans()),
        qkv_bias=draw(st.booleans()),
    )


def small_rank(shape: ModelShape) -> int:
    smallest = min(shape.hidden, shape.kv * shape.dim_head, shape.ff)
    return max(1, smallest // 4)


@st.composite
def inputs(draw: st.DrawFn, method: Method | None = None) -> EstimateInput:
    shape = draw(shapes())
    chosen = method or draw(st.sampled_from(list(Method)))
    technique = Technique(chosen)
    if chosen is not Method.FULL:
        targets = draw(st.sampled_from([("q_proj", "v_proj"), ("all-linear",), ("down_proj",)]))
        rank = draw(st.integers(1, small_rank(shape)))
        technique = Technique(chosen, lora=LoraSpec(rank=rank, targets=targets))
    nodes = draw(st.integers(1, 4))
    per_node = draw(st.integers(1, 8))
    batch = draw(
        st.none()
        | st.builds(
            Activations,
            seq_len=st.integers(1, 512),
            micro_batch=st.integers(1, 8),
            gradient_checkpointing=st.booleans(),
            flash_attention=st.booleans(),
        )
    )
    return EstimateInput(
        model=Model(shape=shape),
        technique=technique,
        numerics=Numerics(
            precision=draw(st.sampled_from(list(Precision))),
            optimizer=draw(st.sampled_from(list(Optimizer))),
        ),
        parallelism=Parallelism(nodes=nodes, gpus_per_node=per_node),
        activations=batch,
        accounting=Accounting(fragmentation=draw(st.sampled_from([0.0, 0.1, 0.3]))),
    )


def gpu_total(inp: EstimateInput, **parallelism: object) -> int:
    changed = replace(inp, parallelism=replace(inp.parallelism, **parallelism))  # type: ignore[arg-type]
    return estimate(changed).per_gpu.total


@CHECK
@given(inputs())
def test_a_higher_zero_stage_never_needs_more(inp: EstimateInput) -> None:
    totals = [gpu_total(inp, zero_stage=stage) for stage in (0, 1, 2, 3)]
    assert totals == sorted(totals, reverse=True)


@CHECK
@given(inputs())
def test_stronger_fsdp_sharding_never_needs_more(inp: EstimateInput) -> None:
    order = (FsdpStrategy.NO_SHARD, FsdpStrategy.SHARD_GRAD_OP, FsdpStrategy.FULL_SHARD)
    totals = [gpu_total(inp, fsdp=strategy) for strategy in order]
    assert totals == sorted(totals, reverse=True)


@CHECK
@given(inputs(), st.integers(1, 3), st.sampled_from([OffloadDevice.CPU, OffloadDevice.NVME]))
def test_offload_never_needs_more_gpu_memory(
    inp: EstimateInput, stage: int, device: OffloadDevice
) -> None:
    if device is OffloadDevice.NVME:
        stage = 3
    resident = gpu_total(inp, zero_stage=stage)
    optimizer = gpu_total(inp, zero_stage=stage, offload=Offload(optimizer=device))
    assert optimizer <= resident
    if stage == 3:
        both = gpu_total(inp, zero_stage=3, offload=Offload(optimizer=device, params=device))
        assert both <= optimizer


@CHECK
@given(inputs(), st.sampled_from(list(FsdpStrategy)))
def test_fsdp_cpu_offload_never_needs_more_gpu_memory(
    inp: EstimateInput, strategy: FsdpStrategy
) -> None:
    offload = Offload(params=OffloadDevice.CPU)
    assert gpu_total(inp, fsdp=strategy, offload=offload) <= gpu_total(inp, fsdp=strategy)


@CHECK
@given(inputs(), st.integers(1, 64), st.integers(1, 64))
def test_more_gpus_at_stage_3_never_need_more(inp: EstimateInput, fewer: int, more: int) -> None:
    fewer, more = sorted((fewer, more))
    for profile in (Profile.FTMATRIX, Profile.ZERO_PAPER):
        if profile is Profile.ZERO_PAPER:
            if inp.technique.method is not Method.FULL or not inp.numerics.precision.mixed:
                continue
            inp = replace(
                inp,
                numerics=Numerics(inp.numerics.precision, Optimizer.ADAMW),
                accounting=Accounting(profile=profile),
            )
        base = {"zero_stage": 3, "gpus_per_node": None, "nodes": 1}
        assert gpu_total(inp, gpus=more, **base) <= gpu_total(inp, gpus=fewer, **base)


@CHECK
@given(inputs(method=Method.LORA))
def test_lora_never_needs_more_than_full_fine_tuning(inp: EstimateInput) -> None:
    for stage in (0, 3):
        lora = gpu_total(inp, zero_stage=stage)
        full = estimate(
            replace(
                inp,
                technique=Technique(),
                parallelism=replace(inp.parallelism, zero_stage=stage),
            )
        ).per_gpu.total
        assert lora <= full


@CHECK
@given(inputs(method=Method.LORA), st.sampled_from([4, 8]))
def test_a_quantized_base_never_needs_more_than_lora(inp: EstimateInput, bits: int) -> None:
    # Without double quantization: with it, each tensor also keeps a 1 KiB code table, which
    # outweighs the saving on toy matrices of a few hundred elements (real, not a bug).
    quant = Quantization(bits=bits, double_quant=False if bits == 4 else None)
    qlora = replace(inp, technique=replace(inp.technique, method=Method.QLORA, quantization=quant))
    assert estimate(qlora).per_gpu.total <= estimate(inp).per_gpu.total


@CHECK
@given(inputs())
def test_totals_are_the_sums_of_their_terms(inp: EstimateInput) -> None:
    result = estimate(inp)
    for breakdown, place in ((result.per_gpu, "gpu"), (result.per_node_cpu, "cpu")):
        terms = [t.bytes for t in result.terms if t.place.value == place]
        assert breakdown.total == sum(terms)
        assert all(n > 0 for n in terms)
    assert 0 < result.trainable_share <= 1
