"""Parameter counts of a job: base, adapters, trainable, and the part stored quantized."""

from __future__ import annotations

from dataclasses import dataclass

from service.estimates.choices import Method, NoteKind
from service.estimates.inputs import Model, ModelShape, Quantization, Technique
from service.estimates.quantization import Quantized, eight_bit, four_bit
from service.estimates.result import Ledger
from service.estimates.shapes import (
    block_linears,
    block_params,
    largest_layer,
    lora_params,
    magnitude_params,
    shape_params,
)
from service.estimates.sources import DORA, FTMATRIX, LORA


@dataclass(frozen=True, slots=True)
class Unit:
    """A module gathered whole under full sharding: parameters held in a float format, and
    bytes held quantized."""

    dense: int
    quantized_bytes: int

    def bytes(self, width: int) -> int:
        """Bytes of the unit when float parameters take `width` bytes."""
        return self.dense * width + self.quantized_bytes


@dataclass(frozen=True, slots=True)
class Counts:
    """Parameters by role. `quantized_params` of the base are held as `quantized` bytes.

    `largest_layer` is the largest module's parameter count (None when neither the shape nor
    `largest_layer_params` tells); `largest` and `block` are that module and one decoder block
    (adapters included) as gathered units.
    """

    base: int
    adapter: int
    trainable: int
    quantized_params: int
    quantized: Quantized
    largest_layer: int | None
    largest: Unit | None
    block: Unit | None

    @property
    def total(self) -> int:
        """All parameters, adapters included."""
        return self.base + self.adapter

    @property
    def frozen_dense(self) -> int:
        """Frozen parameters held in a float format (16-bit, or fp32 under fp32 precision)."""
        return self.base - self.quantized_params if self.adapter else 0


def count(model: Model, technique: Technique, ledger: Ledger) -> Counts:
    """Count the parameters of `model` under `technique`, noting how the counts were found."""
    shape = model.shape
    base = model.params if model.params is not None else 0
    if shape is not None:
        implied = shape_params(shape)
        if model.params is None:
            base = implied
        elif abs(implied - model.params) > model.params // 100:
            ledger.note(
                NoteKind.ASSUMPTION,
                "params-vs-shape",
                f"The shape implies {implied:,} parameters, not the {model.params:,} given; the "
                "given total is used, the shape only sizes modules.",
                FTMATRIX,
            )
    adapter = 0
    spec = technique.adapter
    if spec is not None and shape is not None:
        adapter = lora_params(shape, spec.rank, spec.targets)
        ledger.note(
            NoteKind.ASSUMPTION,
            "lora-count",
            f"LoRA adds r x (in + out) parameters per adapted linear (r = {spec.rank}, targets "
            f"{', '.join(spec.targets)}); the base stays frozen.",
            LORA,
        )
        if technique.method is Method.DORA:
            adapter += magnitude_params(shape, spec.targets)
            ledger.note(
                NoteKind.ASSUMPTION,
                "dora-count",
                "DoRA adds one trained magnitude per output feature of each adapted linear.",
                DORA,
            )
    quantized_params, quantized = 0, Quantized(0, 0)
    quant = technique.quantized
    if quant is not None and shape is not None:
        for linear in block_linears(shape):
            if quant.bits == 4:
                one = four_bit(linear.weight, quant.nested)
            else:
                one = eight_bit(linear.outputs, linear.inputs)
            quantized = quantized + one.times(shape.layers)
            quantized_params += linear.weight * shape.layers
    trainable = adapter if spec is not None else base
    largest_params = model.largest_layer_params
    largest = block = None
    if largest_params is not None:
        largest = Unit(largest_params, 0)
    if shape is not None:
        if largest_params is None:
            largest_params = largest_layer(shape)
            largest = _largest_unit(shape, quant)
        # Every block is the same, so per-block shares divide exactly.
        layers = shape.layers
        block = Unit(
            block_params(shape) - quantized_params // layers + adapter // layers,
            (quantized.data + quantized.constants) // layers,
        )
    return Counts(
        base=base,
        adapter=adapter,
        trainable=trainable,
        quantized_params=quantized_params,
        quantized=quantized,
        largest_layer=largest_params,
        largest=largest,
        block=block,
    )


def _largest_unit(shape: ModelShape, quant: Quantization | None) -> Unit:
    """The largest module as stored: the 16-bit embedding, or the largest linear."""
    linear = max(block_linears(shape), key=lambda lin: lin.params)
    embedding = shape.vocab * shape.hidden
    if embedding >= linear.params or quant is None:
        return Unit(max(embedding, linear.params), 0)
    if quant.bits == 4:
        stored = four_bit(linear.weight, quant.nested)
    else:
        stored = eight_bit(linear.outputs, linear.inputs)
    return Unit(linear.params - linear.weight, stored.data + stored.constants)
