"""Module sizes of a decoder-only transformer, from its shape: parameter and adapter counts.

The counts follow the module layout of Llama-family models in transformers: per block the
q/k/v/o projections, the MLP projections and two norms (one weight vector each); then the
input embedding, the output layer (absent when tied) and a final norm. This reproduces the
published totals of LLaMA-7B (6,738,415,616) and Qwen2.5-3B (3,085,938,688 + adapters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.estimates.errors import EstimateError

if TYPE_CHECKING:
    from service.estimates.inputs import ModelShape

LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Linear modules of a decoder block, by their Llama-style names (PEFT `target_modules`)."""
ALL_LINEAR = "all-linear"
"""PEFT's shorthand for every linear layer of the blocks (the output layer excluded)."""


@dataclass(frozen=True, slots=True)
class Linear:
    """One linear module of a block: `inputs` -> `outputs` features (weight is out x in)."""

    name: str
    inputs: int
    outputs: int
    bias: bool = False

    @property
    def weight(self) -> int:
        """Elements of the weight matrix."""
        return self.inputs * self.outputs

    @property
    def params(self) -> int:
        """Weight plus bias elements."""
        return self.weight + (self.outputs if self.bias else 0)


def block_linears(shape: ModelShape) -> tuple[Linear, ...]:
    """The linear modules of one decoder block, in LINEAR_MODULES order."""
    h, q, kv = shape.hidden, shape.heads * shape.dim_head, shape.kv * shape.dim_head
    bias = shape.qkv_bias
    attention = (
        Linear("q_proj", h, q, bias),
        Linear("k_proj", h, kv, bias),
        Linear("v_proj", h, kv, bias),
        Linear("o_proj", q, h),
    )
    gate = (Linear("gate_proj", h, shape.ff),) if shape.gated_mlp else ()
    return (*attention, *gate, Linear("up_proj", h, shape.ff), Linear("down_proj", shape.ff, h))


def block_params(shape: ModelShape) -> int:
    """Parameters of one decoder block: its linears and two norms."""
    return sum(linear.params for linear in block_linears(shape)) + 2 * shape.hidden


def embedding_params(shape: ModelShape) -> int:
    """Parameters of the input embedding and, unless tied, the output layer."""
    tables = 1 if shape.tied_embeddings else 2
    return tables * shape.vocab * shape.hidden


def shape_params(shape: ModelShape) -> int:
    """Total parameters the shape implies."""
    return shape.layers * block_params(shape) + embedding_params(shape) + shape.hidden


def linear_params(shape: ModelShape) -> int:
    """Parameters of all block linears (the modules bitsandbytes quantizes)."""
    return shape.layers * sum(linear.params for linear in block_linears(shape))


def largest_layer(shape: ModelShape) -> int:
    """Parameters of the largest single module: the embedding table or the largest linear.

    This is what DeepSpeed's `estimate_zero3_model_states_mem_needs_all_live` takes as
    `largest_layer_params` (the most parameters any one module owns directly).
    """
    largest_linear = max(linear.params for linear in block_linears(shape))
    return max(shape.vocab * shape.hidden, largest_linear)


def targeted(shape: ModelShape, targets: Sequence[str]) -> tuple[Linear, ...]:
    """The block linears `targets` name, in block order; EstimateError for absent modules."""
    linears = block_linears(shape)
    if ALL_LINEAR in targets:
        return linears
    present = {linear.name for linear in linears}
    for target in targets:
        if target not in present:
            raise EstimateError(
                "technique.lora.targets",
                f"{target!r} is not a module of this model (a model without a gated MLP has "
                "no gate_proj)",
                [*sorted(present), ALL_LINEAR],
            )
    return tuple(linear for linear in linears if linear.name in targets)


def lora_params(shape: ModelShape, rank: int, targets: Sequence[str]) -> int:
    """LoRA parameters: r x (in + out) per adapted linear (A is r x in, B is out x r), all
    blocks. For d x d matrices this is the LoRA paper's 2 x L x d x r per adapted kind."""
    return shape.layers * sum(rank * (lin.inputs + lin.outputs) for lin in targeted(shape, targets))


def magnitude_params(shape: ModelShape, targets: Sequence[str]) -> int:
    """DoRA magnitudes: one per output feature of each adapted linear, all blocks (PEFT's
    `torch.linalg.norm(weight, dim=1)` of the out x in weight)."""
    return shape.layers * sum(linear.outputs for linear in targeted(shape, targets))
