"""Bad input raises EstimateError naming the field, what is allowed and why."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from service.estimates import (
    Accounting,
    Activations,
    EstimateError,
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
    Quantization,
    Technique,
)
from tests.estimates.published_models import GPT2_XL, LLAMA_7B

CPU, NVME = OffloadDevice.CPU, OffloadDevice.NVME
CASES: list[tuple[str, Callable[[], object], str, str]] = [
    ("zero-without-gpus", lambda: Parallelism(gpus=0, zero_stage=2), "parallelism.gpus", "GPU"),
    ("stage-4", lambda: Parallelism(gpus=2, zero_stage=4), "parallelism.zero_stage", "0 (off)"),
    (
        "param-offload-below-3",
        lambda: Parallelism(gpus=2, zero_stage=2, offload=Offload(params=CPU)),
        "parallelism.offload.params",
        "stage 3",
    ),
    (
        "nvme-with-stage-1",
        lambda: Parallelism(gpus=2, zero_stage=1, offload=Offload(optimizer=NVME)),
        "parallelism.offload.optimizer",
        "only with ZeRO stage 3",
    ),
    (
        "optimizer-offload-without-zero",
        lambda: Parallelism(gpus=2, offload=Offload(optimizer=CPU)),
        "parallelism.offload.optimizer",
        "stage 1, 2 or 3",
    ),
    (
        "fsdp-and-zero",
        lambda: Parallelism(gpus=2, zero_stage=3, fsdp=FsdpStrategy.FULL_SHARD),
        "parallelism.fsdp",
        "cannot be used together",
    ),
    (
        "fsdp-optimizer-offload",
        lambda: Parallelism(gpus=2, fsdp=FsdpStrategy.FULL_SHARD, offload=Offload(optimizer=CPU)),
        "parallelism.offload.optimizer",
        "CPUOffload",
    ),
    (
        "gpus-disagree",
        lambda: Parallelism(gpus=12, nodes=2, gpus_per_node=8),
        "parallelism.gpus",
        "disagree",
    ),
    ("uneven-nodes", lambda: Parallelism(gpus=7, nodes=2), "parallelism.nodes", "evenly"),
    (
        "tensor-parallel-divides",
        lambda: Parallelism(gpus=6, tensor_parallel=4),
        "parallelism.tensor_parallel",
        "divide",
    ),
    ("rank-zero", lambda: LoraSpec(rank=0), "technique.lora.rank", "at least 1"),
    ("rank-negative", lambda: LoraSpec(rank=-4), "technique.lora.rank", "at least 1"),
    ("unknown-target", lambda: LoraSpec(targets=("qkv",)), "technique.lora.targets", "known"),
    (
        "all-linear-plus",
        lambda: LoraSpec(targets=("all-linear", "q_proj")),
        "technique.lora.targets",
        "alone",
    ),
    (
        "target-absent-from-model",
        lambda: EstimateInput(
            model=Model(shape=GPT2_XL),
            technique=Technique(Method.LORA, lora=LoraSpec(targets=("gate_proj",))),
        ),
        "technique.lora.targets",
        "gated MLP",
    ),
    (
        "lora-settings-with-full",
        lambda: Technique(Method.FULL, lora=LoraSpec()),
        "technique.lora",
        "no adapters",
    ),
    (
        "quantized-lora",
        lambda: Technique(Method.LORA, quantization=Quantization()),
        "technique.quantization",
        "qlora",
    ),
    ("bits", lambda: Quantization(bits=3), "technique.quantization.bits", "4 or 8"),
    (
        "8-bit-with-4-bit-settings",
        lambda: Quantization(bits=8, double_quant=True),
        "technique.quantization",
        "4-bit",
    ),
    ("no-model", lambda: Model(), "model", "params, shape"),
    ("negative-params", lambda: Model(params=-1), "model.params", "at least 1"),
    (
        "lora-without-shape",
        lambda: EstimateInput(model=Model(params=10**9), technique=Technique(Method.LORA)),
        "model.shape",
        "shape",
    ),
    (
        "kv-heads",
        lambda: ModelShape(layers=2, hidden=64, heads=8, kv_heads=3, vocab=100),
        "model.shape.kv_heads",
        "multiple",
    ),
    ("seq-len", lambda: Activations(seq_len=0), "activations.seq_len", "at least 1"),
    (
        "fragmentation",
        lambda: Accounting(fragmentation=1.5),
        "accounting.fragmentation",
        "below 1",
    ),
    (
        "fragmentation-type",
        lambda: Accounting(fragmentation="10%"),  # type: ignore[arg-type]
        "accounting.fragmentation",
        "share of memory",
    ),
    (
        "precision-spelling",
        lambda: Numerics(precision="bf16_mixed"),  # type: ignore[arg-type]
        "numerics.precision",
        "accepted values",
    ),
    (
        "quantized-base-larger-than-model",
        lambda: EstimateInput(
            model=Model(params=10**6, shape=LLAMA_7B), technique=Technique(Method.QLORA)
        ),
        "model.params",
        "linear layers",
    ),
    (
        "tensor-parallel-heads",
        lambda: EstimateInput(
            model=Model(shape=GPT2_XL), parallelism=Parallelism(gpus=2, tensor_parallel=2)
        ),
        "parallelism.tensor_parallel",
        "heads",
    ),
]


@pytest.mark.parametrize(
    ("build", "field", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_typed_error(build: Callable[[], object], field: str, says: str) -> None:
    with pytest.raises(EstimateError) as caught:
        build()
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert says in error.message
    assert str(error).startswith(f"{field}: ")


def test_allowed_values_are_listed() -> None:
    with pytest.raises(EstimateError) as caught:
        Numerics(optimizer="lion")  # type: ignore[arg-type]
    assert caught.value.allowed == tuple(o.value for o in Optimizer)
    assert "(allowed: adamw, adamw-8bit" in str(caught.value)
    with pytest.raises(EstimateError) as caught:
        LoraSpec(targets=("fc1",))
    assert "all-linear" in caught.value.allowed
    assert "q_proj" in caught.value.allowed


def test_spellings_become_enum_members() -> None:
    numerics = Numerics(precision="fp16-mixed", optimizer="sgd")  # type: ignore[arg-type]
    assert numerics.precision is Precision.FP16_MIXED
    assert numerics.optimizer is Optimizer.SGD
    assert Offload(optimizer="cpu").optimizer is CPU  # type: ignore[arg-type]
    assert Technique("qlora").method is Method.QLORA  # type: ignore[arg-type]


def test_one_target_may_be_a_string() -> None:
    assert LoraSpec(targets="o_proj").targets == ("o_proj",)  # type: ignore[arg-type]
    assert LoraSpec(targets=["q_proj", "k_proj"]).targets == ("q_proj", "k_proj")  # type: ignore[arg-type]


def test_gpu_counts_resolve() -> None:
    assert Parallelism().total_gpus == 1
    assert Parallelism(nodes=2, gpus_per_node=8).total_gpus == 16
    both = Parallelism(gpus=16, nodes=2, tensor_parallel=4)
    assert (both.node_gpus, both.data_parallel) == (8, 4)


def test_defaults_resolve() -> None:
    qlora = Technique(Method.QLORA)
    assert qlora.adapter == LoraSpec(rank=8, targets=("q_proj", "v_proj"))
    assert qlora.quantized == Quantization()
    assert qlora.quantized is not None
    assert qlora.quantized.nested
    assert Technique().adapter is None
    assert Technique().quantized is None
    assert not Quantization(bits=8).nested


def test_error_survives_pickling() -> None:
    # The pickle is made here from our own object, so loading it is safe.
    error = pickle.loads(pickle.dumps(EstimateError("f.g", "bad", ("a", "b"))))  # noqa: S301
    assert (error.field, error.message, error.allowed) == ("f.g", "bad", ("a", "b"))
    assert str(error) == "f.g: bad (allowed: a, b)"
