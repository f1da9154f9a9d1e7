"""The default accounting (profile ftmatrix): model states, activations, quantization
constants, and the CUDA context and fragmentation as an explicit, adjustable allowance.

Model states follow the ZeRO paper (16-bit weights and gradients, K bytes of optimizer state
per trained parameter with the fp32 master copy inside K), sharded by ZeRO stage or FSDP
strategy and split by tensor parallelism; activations follow Korthikanti et al.; a quantized
base follows the bitsandbytes layout. Every term records its formula and source.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from service.estimates import activations as act
from service.estimates.choices import (
    Component,
    FsdpStrategy,
    Method,
    NoteKind,
    OffloadDevice,
    Optimizer,
    Place,
    Precision,
    Profile,
)
from service.estimates.counts import Counts, count
from service.estimates.errors import EstimateError
from service.estimates.inputs import EstimateInput
from service.estimates.notes import ftmatrix_notes
from service.estimates.result import GIB, Estimate, Ledger, Unit
from service.estimates.shapes import targeted
from service.estimates.sources import (
    BNB_4BIT,
    BNB_8BIT,
    DEEPSPEED_DOCS,
    DEEPSPEED_ZERO3,
    DORA,
    FTMATRIX,
    HF_ANATOMY,
    HF_ONE_GPU,
    KORTHIKANTI,
    LLAMA_FACTORY,
    TORCH_FSDP,
    ZERO,
)

STATE_BYTES = {
    Optimizer.ADAMW: (8, HF_ANATOMY),
    Optimizer.ADAMW_8BIT: (2, HF_ANATOMY),
    Optimizer.PAGED_ADAMW_8BIT: (2, HF_ANATOMY),
    Optimizer.SGD: (4, HF_ANATOMY),
    Optimizer.ADAFACTOR: (4, HF_ONE_GPU),
}
"""Optimizer-state bytes per trained parameter with 32-bit states, without a master copy."""
MASTER_BYTES = 4
OFFLOADED_GRADIENT_BYTES = 4
"""DeepSpeed's docs: offloaded gradients are held on the CPU as fp32."""


@dataclass(frozen=True, slots=True)
class Sharding:
    """The ZeRO-equivalent stage, the number of GPUs a shard is split over, and a name."""

    stage: int
    degree: int
    name: str
    fsdp: bool


def sharding(inp: EstimateInput) -> Sharding:
    """ZeRO stage as given, or FSDP's strategy mapped onto the ZeRO stage it matches."""
    par = inp.parallelism
    if par.fsdp is None:
        return Sharding(par.zero_stage, par.data_parallel, f"ZeRO-{par.zero_stage}", False)
    stage = {
        FsdpStrategy.FULL_SHARD: 3,
        FsdpStrategy.HYBRID_SHARD: 3,
        FsdpStrategy.SHARD_GRAD_OP: 2,
        FsdpStrategy.HYBRID_SHARD_ZERO2: 2,
        FsdpStrategy.NO_SHARD: 0,
    }[par.fsdp]
    hybrid = par.fsdp in (FsdpStrategy.HYBRID_SHARD, FsdpStrategy.HYBRID_SHARD_ZERO2)
    degree = par.node_gpus // par.tensor_parallel if hybrid else par.data_parallel
    return Sharding(stage, degree, f"FSDP {par.fsdp.value}", True)


def state_bytes(optimizer: Optimizer, precision: Precision) -> int:
    """Optimizer-state bytes per trained parameter, the fp32 master copy included.

    32-bit-state optimizers create their states like the parameter, so under pure bf16 they
    take half (LLaMA-Factory's pure-bf16 full fine-tuning: 2 + 2 + 4 = 8 bytes per parameter);
    8-bit states stay 2 bytes.
    """
    states, _ = STATE_BYTES[optimizer]
    if precision is Precision.BF16 and states != 2:
        states //= 2
    return states + (MASTER_BYTES if precision.mixed else 0)


def _share(n: int, divisor: int) -> int:
    # Rounded up: a shard that does not divide evenly still occupies its last byte.
    return -(-n // divisor)


class _Counter:
    """One ftmatrix count: the input, its parameter counts and the ledger being filled."""

    def __init__(self, inp: EstimateInput) -> None:
        self.inp = inp
        self.led = Ledger()
        self.counts: Counts = count(inp.model, inp.technique, self.led)
        self.shard = sharding(inp)
        par = inp.parallelism
        self.t = par.tensor_parallel
        self.node = par.node_gpus
        precision = inp.numerics.precision
        self.width = 4 if precision is Precision.FP32 else 2

    def divisor(self, stage: int) -> int:
        """GPUs one per-GPU share is split over when sharding starts at `stage`."""
        return self.t * (self.shard.degree if self.shard.stage >= stage else 1)

    def place(self, device: OffloadDevice) -> Place:
        """Where states offloaded to `device` live."""
        return {OffloadDevice.CPU: Place.CPU, OffloadDevice.NVME: Place.NVME}.get(device, Place.GPU)

    def put(
        self, place: Place, component: Component, per_gpu: int, label: str, formula: str, src: str
    ) -> None:
        """Record a per-GPU share, or the node's total of them when offloaded."""
        if place is Place.GPU:
            self.led.add(place, component, per_gpu, label, formula, src)
        else:
            where = f"{formula}, x {self.node} GPUs on the node"
            self.led.add(place, component, per_gpu * self.node, label, where, src)

    def model_states(self) -> None:
        inp, c = self.inp, self.counts
        par, precision = inp.parallelism, inp.numerics.precision
        fsdp_offload = self.shard.fsdp and par.offload.params is OffloadDevice.CPU
        weights_at = Place.CPU if fsdp_offload else self.place(par.offload.params)
        optimizer_at = Place.CPU if fsdp_offload else self.place(par.offload.optimizer)
        grads_at = Place.GPU if optimizer_at is Place.GPU else Place.CPU
        src = ZERO if not self.shard.fsdp else f"{ZERO}; {TORCH_FSDP}"
        d3, d2, d1 = self.divisor(3), self.divisor(2), self.divisor(1)
        w = self.width
        trained = "weights" if inp.technique.method is Method.FULL else "adapter weights"
        self.put(
            weights_at,
            Component.WEIGHTS,
            _share(c.trainable * w, d3),
            f"trained {trained} ({w}-byte)",
            f"{c.trainable:,} x {w} B / {d3}",
            src,
        )
        self.put(
            weights_at,
            Component.WEIGHTS,
            _share(c.frozen_dense * w, d3),
            f"frozen base weights ({w}-byte)",
            f"{c.frozen_dense:,} x {w} B / {d3}",
            src,
        )
        quant = inp.technique.quantized
        if quant is not None:
            qsrc = BNB_4BIT if quant.bits == 4 else BNB_8BIT
            self.put(
                weights_at,
                Component.WEIGHTS,
                _share(c.quantized.data, d3),
                f"quantized base linears ({quant.bits}-bit data)",
                f"{c.quantized_params:,} x {quant.bits}/8 B / {d3}",
                qsrc,
            )
            self.put(
                weights_at,
                Component.QUANTIZATION_CONSTANTS,
                _share(c.quantized.constants, d3),
                "quantization constants",
                f"{c.quantized.constants:,} B / {d3}",
                qsrc,
            )
        grad_bytes = w if grads_at is Place.GPU else OFFLOADED_GRADIENT_BYTES
        grad_src = src if grads_at is Place.GPU else f"{DEEPSPEED_DOCS}; {src}"
        self.put(
            grads_at,
            Component.GRADIENTS,
            _share(c.trainable * grad_bytes, d2),
            "gradients",
            f"{c.trainable:,} x {grad_bytes} B / {d2}",
            grad_src,
        )
        k = state_bytes(inp.numerics.optimizer, precision)
        _, state_src = STATE_BYTES[inp.numerics.optimizer]
        if precision is Precision.BF16:
            state_src = f"{state_src}; {LLAMA_FACTORY}"
        self.put(
            optimizer_at,
            Component.OPTIMIZER_STATES,
            _share(c.trainable * k, d1),
            "optimizer states" + (" incl. fp32 master weights" if precision.mixed else ""),
            f"{c.trainable:,} x K={k} B / {d1}",
            f"{ZERO}; {state_src}",
        )
        if self.shard.stage == 3:
            self.gathered(weights_at)

    def gathered(self, weights_at: Place) -> None:
        """The 16-bit working copy of the unit being computed under full sharding."""
        c, n = self.counts, self.shard.degree
        unit, what = c.largest, "largest layer"
        if self.shard.fsdp and c.block is not None:
            unit, what = c.block, "decoder block (the FSDP wrap unit)"
        if unit is None:
            self.led.note(
                NoteKind.ASSUMPTION,
                "gathered-layer",
                "The largest layer is unknown (no shape, no largest_layer_params), so the "
                "gathered working layer of full sharding is not counted.",
                FTMATRIX,
            )
            return
        share = 1.0 if weights_at is not Place.GPU else (n - 1) / n
        stored = unit.bytes(self.width)
        self.led.add(
            Place.GPU,
            Component.OTHER,
            ceil(stored * share / self.t),
            f"gathered {what}",
            f"{stored:,} B as stored x {share:.3g} / {self.t}",
            f"{DEEPSPEED_ZERO3}; {FTMATRIX}",
        )

    def activations(self) -> None:
        inp = self.inp
        batch_in, shape = inp.activations, inp.model.shape
        if batch_in is None:
            return
        if shape is None:
            raise EstimateError(
                "model.shape",
                "activations are sized by layers, hidden size, heads and vocabulary: give the "
                "model shape, or leave activations out to count model states only",
            )
        batch = act.Batch(
            seq_len=batch_in.seq_len,
            micro_batch=batch_in.micro_batch,
            hidden=shape.hidden,
            heads=shape.heads,
            vocab=shape.vocab,
            tensor_parallel=self.t,
            sequence_parallel=batch_in.sequence_parallel,
        )
        scale = 2 if inp.numerics.precision is Precision.FP32 else 1
        keep = not (batch_in.flash_attention or batch_in.selective_recompute)
        block = act.block(batch, keep_scores=keep) * scale
        dims = f"s={batch.seq_len}, b={batch.micro_batch}, h={batch.hidden}, a={batch.heads}"
        if batch_in.gradient_checkpointing:
            kept = act.checkpoint(batch) * scale * shape.layers
            self.led.add(
                Place.GPU,
                Component.ACTIVATIONS,
                kept,
                "block inputs kept (full recomputation)",
                f"2sbh x L={shape.layers} ({dims})",
                KORTHIKANTI,
            )
            self.led.add(
                Place.GPU,
                Component.ACTIVATIONS,
                block,
                "one block recomputed in backward",
                f"per-block activations ({dims}, t={self.t})",
                f"{KORTHIKANTI}; {FTMATRIX}",
            )
        else:
            self.led.add(
                Place.GPU,
                Component.ACTIVATIONS,
                block * shape.layers,
                "block activations",
                f"per-block activations x L={shape.layers} ({dims}, t={self.t})",
                KORTHIKANTI,
            )
        self.led.add(
            Place.GPU,
            Component.ACTIVATIONS,
            act.outside_blocks(batch) * scale,
            "embeddings, final norm and fp32 logits",
            f"5sbh/t + 4sbv/t (v={batch.vocab})",
            KORTHIKANTI,
        )

    def extras(self) -> None:
        inp = self.inp
        tech, shape = inp.technique, inp.model.shape
        spec = tech.adapter
        if tech.method is Method.DORA and spec is not None and shape is not None:
            largest = max(linear.weight for linear in targeted(shape, spec.targets))
            copies = 2 if tech.quantized is not None else 1
            self.led.add(
                Place.GPU,
                Component.OTHER,
                ceil(largest * 2 * copies / self.t),
                "DoRA transient: dense B·A (and dequantized base) of the largest adapted linear",
                f"{largest:,} x 2 B x {copies}",
                DORA,
            )
        self.led.add(
            Place.GPU,
            Component.OTHER,
            inp.model.buffer_bytes,
            "model buffers",
            f"{inp.model.buffer_bytes:,} B as given",
            "input",
        )
        acc = inp.accounting
        counted = self.led.sum(Place.GPU)
        self.led.add(
            Place.GPU,
            Component.OTHER,
            ceil(counted * acc.fragmentation),
            "allowance: allocator fragmentation",
            f"{acc.fragmentation:.0%} of {counted:,} B",
            f"{FTMATRIX}; adjustable as accounting.fragmentation",
        )
        self.led.add(
            Place.GPU,
            Component.OTHER,
            acc.cuda_context_bytes,
            "allowance: CUDA context",
            f"{acc.cuda_context_bytes:,} B",
            f"{HF_ANATOMY}; adjustable as cuda_context_bytes",
        )

    def estimate(self) -> Estimate:
        self.model_states()
        self.activations()
        self.extras()
        ftmatrix_notes(self.led, self.inp, self.shard.name, self.shard.stage)
        return finish(self.led, self.inp, self.counts, Profile.FTMATRIX)


def finish(
    led: Ledger, inp: EstimateInput, counts: Counts, profile: Profile, unit: Unit = GIB
) -> Estimate:
    """Sum a ledger into an Estimate (per-GPU figures are one GPU's; CPU and NVMe a node's)."""
    par = inp.parallelism
    total = counts.total
    return Estimate(
        profile=profile,
        unit=unit,
        per_gpu=led.breakdown(Place.GPU),
        per_node_cpu=led.breakdown(Place.CPU),
        per_node_nvme=led.breakdown(Place.NVME),
        params=total,
        trainable_params=counts.trainable,
        trainable_share=counts.trainable / total if total else 0.0,
        gpus=par.total_gpus,
        nodes=par.nodes,
        data_parallel=par.data_parallel,
        terms=tuple(led.terms),
        assumptions=tuple(led.notes),
    )


def estimate_ftmatrix(inp: EstimateInput) -> Estimate:
    """Count `inp` the ftmatrix way."""
    return _Counter(inp).estimate()
