"""Bytes of a bitsandbytes-quantized weight: packed data and quantization constants.

4-bit (NF4/FP4, `functional.quantize_4bit`): n/2 bytes of packed data whatever the storage
dtype, plus one fp32 absmax per block of 64. With double quantization (`compress_statistics`)
the absmax values are quantized again to uint8 in blocks of 256, each block keeping one fp32
absmax, and the tensor keeps a 256-entry fp32 code and one fp32 offset. That is the QLoRA
paper's 0.5 bits/param of constants without, and 8/64 + 32/(64*256) = 0.127 with.

8-bit (LLM.int8, `functional.int8_vectorwise_quant`): one int8 per element plus one fp32
scale per row (output feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

BLOCKSIZE = 64
"""Elements per absmax block (bitsandbytes' `quantize_4bit` default, QLoRA's choice)."""
NESTED_BLOCKSIZE = 256
"""Absmax values per block of the second quantization (QLoRA's Double Quantization)."""
CODE_ENTRIES = 256
"""Entries of the fp32 code of the dynamic 8-bit map each double-quantized tensor keeps."""
FP32 = 4


@dataclass(frozen=True, slots=True)
class Quantized:
    """Bytes of quantized weights: packed `data` and quantization `constants`."""

    data: int
    constants: int

    def __add__(self, other: Quantized) -> Quantized:
        return Quantized(self.data + other.data, self.constants + other.constants)

    def times(self, k: int) -> Quantized:
        """k copies (e.g. the same linear in every block)."""
        return Quantized(self.data * k, self.constants * k)


def four_bit(numel: int, double_quant: bool) -> Quantized:
    """One weight of `numel` elements quantized to 4 bits."""
    data = (numel + 1) // 2
    blocks = ceil(numel / BLOCKSIZE)
    if not double_quant:
        return Quantized(data, blocks * FP32)
    nested = ceil(blocks / NESTED_BLOCKSIZE)
    return Quantized(data, blocks + nested * FP32 + CODE_ENTRIES * FP32 + FP32)


def eight_bit(rows: int, columns: int) -> Quantized:
    """One rows x columns weight quantized to int8 with row-wise fp32 scales."""
    return Quantized(rows * columns, rows * FP32)


def bits_per_param(numel: int, double_quant: bool) -> float:
    """Bits per element of a 4-bit weight, constants included (4.5 or about 4.127)."""
    q = four_bit(numel, double_quant)
    return 8 * (q.data + q.constants) / numel
