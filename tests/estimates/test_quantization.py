"""QLoRA's bits per parameter and the bitsandbytes layout of a quantized base.

Sources: QLoRA (arXiv 2305.14314 §3): 4.5 bits/param without Double Quantization, 4.127 with,
"a reduction of 0.373 bits per parameter", "approximately 3 GB for a 65B model"; bitsandbytes
@95f9af30 for the layout (memory-formulas.md §4).
"""

from __future__ import annotations

import pytest

from service.estimates import Estimate, LoraSpec, Method, Model, Quantization, Technique
from service.estimates.quantization import bits_per_param, eight_bit, four_bit
from service.estimates.shapes import linear_params
from tests.estimates.helpers import GB, run, states_only
from tests.estimates.published_models import LLAMA_7B, LLAMA_65B

SQUARE = 4096 * 4096


def test_bits_per_parameter() -> None:
    assert bits_per_param(SQUARE, double_quant=False) == 4.5
    assert f"{bits_per_param(SQUARE, double_quant=True):.3f}" == "4.127"
    # The computed 4.1274 includes the per-tensor code table (memory-formulas.md §4).
    assert f"{bits_per_param(SQUARE, double_quant=True):.4f}" == "4.1274"
    saved = bits_per_param(SQUARE, False) - bits_per_param(SQUARE, True)
    assert f"{saved:.3f}" == "0.373"


def test_layout_of_one_weight() -> None:
    plain = four_bit(SQUARE, double_quant=False)
    assert plain.data == SQUARE // 2  # n/2 bytes whatever the storage dtype
    assert plain.constants == SQUARE // 64 * 4  # one fp32 absmax per 64 elements
    nested = four_bit(SQUARE, double_quant=True)
    blocks = SQUARE // 64
    assert nested.constants == blocks + (blocks // 256) * 4 + 256 * 4 + 4
    int8 = eight_bit(rows=11008, columns=4096)
    assert (int8.data, int8.constants) == (11008 * 4096, 11008 * 4)


def qlora(shape_model: Model, double_quant: bool | None = None, bits: int = 4) -> Estimate:
    quant = Quantization(bits=bits, double_quant=double_quant)
    return run(
        shape_model,
        technique=Technique(Method.QLORA, lora=LoraSpec(), quantization=quant),
        accounting=states_only(),
    )


def test_double_quantization_saves_about_3_gb_on_65b() -> None:
    model = Model(shape=LLAMA_65B)
    with_dq, without = qlora(model, True).per_gpu, qlora(model, False).per_gpu
    saved = without.quantization_constants - with_dq.quantization_constants
    assert round(saved / GB) == 3
    assert with_dq.weights == without.weights


def test_llama_7b_4bit_base_layout() -> None:
    # Layout-derived (memory-formulas.md §4): 3,341 MB of 4-bit linears and 524 MB of bf16
    # embeddings and output layer, about 3,866 MB; the paper measured 5,048 MB (not fitted).
    result = qlora(Model(shape=LLAMA_7B))
    linears = next(t for t in result.terms if t.label.startswith("quantized base linears"))
    constants = result.per_gpu.quantization_constants
    assert round((linears.bytes + constants) / 1e6) == 3341
    frozen = next(t for t in result.terms if t.label.startswith("frozen base"))
    embeddings = 2 * 32000 * 4096 * 2
    assert frozen.bytes - embeddings == (65 * 4096) * 2  # plus the norms, still 16-bit
    assert round(embeddings / 1e6) == 524
    assert round((linears.bytes + constants + frozen.bytes) / 1e6) == 3866
    assert {"disagreement-6", "disagreement-7", "disagreement-8"} <= set(result.topics())


def test_8_bit_base() -> None:
    result = qlora(Model(shape=LLAMA_7B), bits=8)
    linears = next(t for t in result.terms if t.label.startswith("quantized base linears"))
    assert linears.bytes == linear_params(LLAMA_7B)
    assert "disagreement-7" not in result.topics()


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_base_is_smaller_than_16_bit(bits: int) -> None:
    dense = run(
        Model(shape=LLAMA_7B),
        technique=Technique(Method.LORA, lora=LoraSpec()),
        accounting=states_only(),
    ).per_gpu.total
    assert qlora(Model(shape=LLAMA_7B), bits=bits).per_gpu.total < dense
