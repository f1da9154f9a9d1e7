"""DeepSpeed's documented estimator examples under the deepspeed profile (GiB, printed "GB").

Figures from DeepSpeed docs/code-docs/source/memory.rst @edaa7221 as memory-formulas.md §2
quotes them; the current code reproduces all but the ZeRO-2 no-offload GPU figure.
"""

from __future__ import annotations

import pytest

from service.estimates import (
    Accounting,
    Component,
    Estimate,
    EstimateError,
    LoraSpec,
    Method,
    Model,
    Offload,
    OffloadDevice,
    Parallelism,
    Place,
    Profile,
    Technique,
)
from service.estimates.formulas import deepspeed_zero2, deepspeed_zero3
from tests.estimates.helpers import GB, GIB, MIB, printed, run, truncated
from tests.estimates.published_models import (
    LLAMA_7B,
    T5_3B_LARGEST,
    T5_3B_PARAMS,
    T5_LARGE_LARGEST,
    T5_LARGE_PARAMS,
)

DS = Accounting(profile=Profile.DEEPSPEED)
CPU, NONE = OffloadDevice.CPU, OffloadDevice.NONE


def t5(
    stage: int, optimizer: OffloadDevice, params: OffloadDevice, zero_init: bool = True
) -> Estimate:
    return run(
        Model(params=T5_3B_PARAMS, largest_layer_params=T5_3B_LARGEST),
        parallelism=Parallelism(
            nodes=1,
            gpus_per_node=8,
            zero_stage=stage,
            offload=Offload(optimizer=optimizer, params=params),
            zero_init=zero_init,
        ),
        accounting=DS,
    )


# (stage, offload_optimizer, offload_param, zero_init) -> (CPU, GPU) as printed, in GiB.
T5_3B = {
    (2, CPU, NONE, True): ("127.45", "5.31"),
    (3, CPU, CPU, True): ("71.69", "0.12"),
    (3, CPU, CPU, False): ("127.45", "0.12"),
    (3, CPU, NONE, True): ("63.72", "0.78"),
    (3, CPU, NONE, False): ("127.45", "0.78"),
    (3, NONE, NONE, True): ("1.43", "6.09"),
    (3, NONE, NONE, False): ("127.45", "6.09"),
}


@pytest.mark.parametrize(("case", "figures"), T5_3B.items(), ids=str)
def test_t5_3b_examples(
    case: tuple[int, OffloadDevice, OffloadDevice, bool], figures: tuple[str, str]
) -> None:
    result = t5(*case)
    cpu, gpu = figures
    assert result.unit.bytes == GIB
    assert result.unit.label == "GB"
    assert printed(result.per_node_cpu.total / GIB, cpu)
    assert printed(result.per_gpu.total / GIB, gpu)


def test_zero2_without_offload_follows_current_code_not_the_docs() -> None:
    result = t5(2, NONE, NONE)
    assert printed(result.per_node_cpu.total / GIB, "127.45")
    assert printed(result.per_gpu.total / GIB, "11.28")  # 2P + 18P/N since PR #5099
    # The docs' 15.93 is the old 4P + 16P/N; the estimate names the disagreement it settles.
    old = (4 * T5_3B_PARAMS + 16 * T5_3B_PARAMS / 8) / GIB
    assert printed(old, "15.93")
    assert not printed(result.per_gpu.total / GIB, "15.93")
    assert "disagreement-2" in result.topics()


def test_t5_large_mib_examples() -> None:
    # memory.rst prints these with `>> 20` (MiB, truncated), 1 node x 4 GPUs.
    def gpu_mib(optimizer: OffloadDevice, params: OffloadDevice) -> float:
        result = run(
            Model(params=T5_LARGE_PARAMS, largest_layer_params=T5_LARGE_LARGEST),
            parallelism=Parallelism(gpus=4, zero_stage=3, offload=Offload(optimizer, params)),
            accounting=DS,
        )
        return result.per_gpu.total / MIB

    assert truncated(4 * T5_LARGE_LARGEST / MIB, "125")
    assert truncated(gpu_mib(NONE, NONE), "3291")
    assert truncated(gpu_mib(CPU, CPU), "125")
    assert truncated(gpu_mib(CPU, NONE), "477")


def test_zero2_offload_fits_an_11b_model_on_a_40gb_gpu() -> None:
    # memory.rst: "a 40GB GPU can fit ~11B param model (regardless of how many GPUs are used)
    # ... the model weights take about 22GB".
    for gpus in (1, 8, 64):
        gpu = run(
            Model(params=11_000_000_000),
            parallelism=Parallelism(gpus=gpus, zero_stage=2, offload=Offload(optimizer=CPU)),
            accounting=DS,
        ).per_gpu
        assert gpu.total == gpu.weights == 22 * GB
        assert gpu.total < 40 * GB


def test_components_split_the_printed_totals() -> None:
    result = t5(3, NONE, NONE)
    gpu = result.per_gpu
    assert gpu.other == 4 * T5_3B_LARGEST  # the gathered largest layer: 2 B params + 2 B grads
    assert gpu.weights + gpu.gradients + gpu.optimizer_states + gpu.other == gpu.total
    cpu_terms = [t for t in result.terms if t.place is Place.CPU]
    assert [t.component for t in cpu_terms] == [Component.OTHER]  # init-time copies only
    offloaded = t5(3, CPU, CPU).per_node_cpu
    assert offloaded.weights * 9 == pytest.approx(offloaded.total, abs=9)  # 2 of 18 bytes


def test_raw_formulas_match_the_code() -> None:
    assert deepspeed_zero2(10**9, 2, 4, cpu_offload=True).cpu == int(10**9 * 32 * 1.5)
    assert deepspeed_zero2(10**9, 1, 2, cpu_offload=True).cpu == int(10**9 * 16 * 1.5)
    figures = deepspeed_zero3(10**9, 10**7, 2, 8, True, False, zero_init=True)
    assert figures.cpu == int(10**9 * 16 * 0.5 * 1.5)
    with pytest.raises(ValueError, match="parameter-only"):
        deepspeed_zero3(10**9, 10**7, 1, 8, False, True, zero_init=True)


@pytest.mark.parametrize(
    ("parallelism", "technique", "field"),
    [
        (Parallelism(gpus=8, zero_stage=1), Technique(), "parallelism.zero_stage"),
        (Parallelism(gpus=8, zero_stage=0), Technique(), "parallelism.zero_stage"),
        (
            Parallelism(gpus=8, zero_stage=3, offload=Offload(params=CPU)),
            Technique(),
            "parallelism.offload",
        ),
        (
            Parallelism(gpus=8, zero_stage=3, offload=Offload(optimizer=OffloadDevice.NVME)),
            Technique(),
            "parallelism.offload",
        ),
        (Parallelism(gpus=8, zero_stage=3), Technique(Method.LORA, LoraSpec()), "technique.method"),
    ],
    ids=["zero-1", "zero-0", "params-only-offload", "nvme", "lora"],
)
def test_what_deepspeed_has_no_estimator_for_is_refused(
    parallelism: Parallelism, technique: Technique, field: str
) -> None:
    with pytest.raises(EstimateError) as caught:
        run(Model(shape=LLAMA_7B), parallelism=parallelism, technique=technique, accounting=DS)
    assert caught.value.field == field
    assert "deepspeed profile" in caught.value.message


def test_zero3_needs_the_largest_layer() -> None:
    with pytest.raises(EstimateError) as caught:
        run(Model(params=10**9), parallelism=Parallelism(gpus=2, zero_stage=3), accounting=DS)
    assert caught.value.field == "model.largest_layer_params"
