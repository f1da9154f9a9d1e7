"""`accelerate estimate-memory` figures under the accelerate profile.

Sources: Accelerate docs/source/usage_guides/model_size_estimator.md (bert-base-cased: 413.18 MB
total and 1.61 GB 'Training using Adam' in fp32, 206.59 MB / 826.36 MB in fp16) and
tests/test_cli.py (total 433,249,280 B), as memory-formulas.md §3 quotes them. Accelerate
divides by 1024 per step, so its "MB" and "GB" are MiB and GiB.
"""

from __future__ import annotations

import pytest

from service.estimates import (
    Accounting,
    EstimateError,
    Method,
    Model,
    Numerics,
    Parallelism,
    Precision,
    Profile,
    Technique,
)
from service.estimates.formulas import accelerate_training
from tests.estimates.helpers import GIB, MIB, printed, run
from tests.estimates.published_models import LLAMA_7B, bert_base_cased

ACC = Accounting(profile=Profile.ACCELERATE)
PARAMS, BUFFERS = bert_base_cased()
BERT = Model(params=PARAMS, buffer_bytes=BUFFERS, name="bert-base-cased")


def test_bert_fp32_total_and_training() -> None:
    result = run(BERT, numerics=Numerics(precision=Precision.FP32), accounting=ACC)
    gpu = result.per_gpu
    assert gpu.weights == 433_249_280  # the size Accelerate's test pins
    assert printed(gpu.weights / MIB, "413.18")
    assert gpu.total == 4 * 433_249_280  # the optimizer step, 4x the fp32 size
    assert printed(gpu.total / GIB, "1.61")
    assert gpu.model_states == gpu.total


@pytest.mark.parametrize("precision", [Precision.FP16_MIXED, Precision.BF16_MIXED])
def test_bert_half_precision_training(precision: Precision) -> None:
    gpu = run(BERT, numerics=Numerics(precision=precision), accounting=ACC).per_gpu
    assert printed(gpu.total / MIB, "826.36")  # 2x the fp32 size: the optimizer states
    assert printed(433_249_280 / 2 / MIB, "206.59")  # the fp16 'Total Size' it is built from
    assert gpu.gradients == 433_249_280 * 3 // 2


def test_the_largest_component_not_the_sum() -> None:
    usage = accelerate_training(1000, mixed=True)
    assert (usage.model, usage.gradients, usage.optimizer, usage.step) == (1000, 1500, 2000, 2000)
    assert usage.largest == 2000
    result = run(BERT, accounting=ACC)
    gpu = result.per_gpu
    assert gpu.total < gpu.weights + gpu.gradients + gpu.optimizer_states
    assert {"disagreement-1", "disagreement-3", "largest-component"} <= set(result.topics())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"numerics": Numerics(precision=Precision.BF16)}, "numerics.precision"),
        ({"technique": Technique(Method.QLORA)}, "technique.method"),
        ({"parallelism": Parallelism(gpus=2, zero_stage=2)}, "parallelism.zero_stage"),
    ],
    ids=["pure-bf16", "int4", "zero"],
)
def test_what_accelerate_does_not_count_is_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(EstimateError) as caught:
        run(Model(shape=LLAMA_7B), accounting=ACC, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
