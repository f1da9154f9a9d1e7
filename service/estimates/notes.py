"""The assumptions and disagreements behind an ftmatrix estimate, chosen for its input."""

from __future__ import annotations

from service.estimates.choices import Method, NoteKind, OffloadDevice, Optimizer, Precision
from service.estimates.inputs import EstimateInput
from service.estimates.result import Ledger
from service.estimates.sources import (
    ACCELERATE_FSDP,
    DEEPSPEED_DOCS,
    DEEPSPEED_ZERO3,
    FTMATRIX,
    HF_ANATOMY,
    HF_ONE_GPU,
    KORTHIKANTI,
    QLORA,
    TORCH_FSDP,
    ZERO,
    ZERO_RESIDUAL,
    disagreement,
)

A = NoteKind.ASSUMPTION


def ftmatrix_notes(led: Ledger, inp: EstimateInput, shard_name: str, stage: int) -> None:
    """Record every note an ftmatrix estimate of `inp` depends on."""
    _states(led, inp, shard_name, stage)
    _activations(led, inp)
    _quantization(led, inp, stage)
    acc = inp.accounting
    led.note(
        A,
        "allowance",
        f"CUDA context ({acc.cuda_context_bytes:,} B; transformers' docs measured 1,343 MB and "
        f"say 1-2 GB) and fragmentation ({acc.fragmentation:.0%} of the other GPU bytes) are "
        "allowances, not measurements: both vary by GPU, driver and workload (uncertain) and "
        "can be set to 0.",
        f"{HF_ANATOMY}; {ZERO_RESIDUAL} (OOM with over 30% free in extreme cases)",
    )


def _states(led: Ledger, inp: EstimateInput, shard_name: str, stage: int) -> None:
    num, par, tech = inp.numerics, inp.parallelism, inp.technique
    disagreement(
        led,
        1,
        "ZeRO's accounting: 16-bit weights (2 B) and 16-bit gradients (2 B) plus K bytes of "
        "optimizer state with the fp32 master copy inside K (K = 12 for mixed-precision AdamW); "
        "fp32 training counts 4 + 4 + 8.",
    )
    if tech.method is not Method.FULL:
        led.note(
            A,
            "frozen-base",
            "The frozen base is held at the training width (2 B; 4 B under fp32) with no master "
            "copy, gradients or optimizer states; adapters are counted like trained weights.",
            ZERO,
        )
    else:
        disagreement(led, 4, "the ZeRO accounting; the LoRA paper's 1.2 TB is not fitted.")
        disagreement(led, 5, "the ZeRO accounting (16 B/param), above QLoRA's lower bound.")
    if num.optimizer is Optimizer.ADAFACTOR:
        led.note(
            A,
            "adafactor",
            "Adafactor's factored states are counted as 4 B per parameter, the transformers "
            "docs' figure ('slightly more than 4 bytes'); the factored second moments alone "
            "are smaller (uncertain).",
            HF_ONE_GPU,
        )
    if num.optimizer is Optimizer.PAGED_ADAMW_8BIT:
        led.note(
            A,
            "paged-optimizer",
            "Paged optimizer states are counted on the GPU; bitsandbytes pages them to CPU RAM "
            "under memory pressure, so this term is an upper bound.",
            QLORA,
        )
    if num.precision is Precision.BF16:
        led.note(
            A,
            "pure-bf16",
            "Pure bf16 keeps no fp32 master copy and creates 32-bit-style optimizer states in "
            "bf16 (half their bytes); 8-bit states stay 2 B.",
            FTMATRIX,
        )
    if par.fsdp is not None:
        led.note(
            A,
            "fsdp-mapping",
            f"{shard_name} is counted as ZeRO stage {stage} (FULL_SHARD shards parameters, "
            "gradients and optimizer states; SHARD_GRAD_OP gradients and optimizer states; "
            "NO_SHARD nothing; hybrid strategies shard within a node). No byte formula is "
            "published for FSDP: the mapping is an inference.",
            f"{TORCH_FSDP}; {ACCELERATE_FSDP}",
        )
    if par.tensor_parallel > 1:
        led.note(
            A,
            "tensor-parallel",
            f"Model states are split evenly over t = {par.tensor_parallel} tensor-parallel "
            f"ranks and sharded over N_d = {par.data_parallel} data-parallel ranks.",
            FTMATRIX,
        )
    if stage == 3:
        led.note(
            A,
            "gathered-layer",
            "Full sharding gathers each layer before computing it: the parts of the largest "
            "layer other ranks hold ((N-1)/N of it; all of it when parameters are offloaded) "
            "are counted once. DeepSpeed's estimator counts 4 B x largest layer (params and "
            "gradients); the gradient transient, present at every stage, is left out as ZeRO "
            "leaves out temporary buffers.",
            f"{DEEPSPEED_ZERO3}; {FTMATRIX}",
        )
    if (par.offload.optimizer, par.offload.params) != (OffloadDevice.NONE, OffloadDevice.NONE):
        led.note(
            A,
            "offload",
            "Offloaded states are counted per node (each GPU's shard times its GPUs); "
            "offloaded gradients as fp32 (4 B); init-time CPU RAM for loading the checkpoint "
            "is not counted (the deepspeed profile counts it).",
            DEEPSPEED_DOCS,
        )
    if par.offload.optimizer is not OffloadDevice.NONE and par.zero_stage == 1:
        disagreement(led, 11, "DeepSpeed's config docs (CPU offload allowed at stage 1).")


def _activations(led: Ledger, inp: EstimateInput) -> None:
    batch = inp.activations
    if batch is None:
        led.note(
            A,
            "no-activations",
            "No batch was given: activations are not counted, so the total is model states "
            "plus allowances only.",
            FTMATRIX,
        )
        return
    led.note(
        A,
        "activation-formula",
        "Activations use Korthikanti et al.'s GPT-block formula (4h GeLU MLP, multi-head "
        "attention, 16-bit activations, 1-byte dropout masks). SwiGLU and grouped-query "
        "attention change the 19sbh and 11sbh terms; no primary formula for them was found "
        "(uncertain). Adapters are assumed to store the same activations as full fine-tuning.",
        KORTHIKANTI,
    )
    if batch.flash_attention:
        led.note(
            A,
            "flash-attention",
            "FlashAttention never stores the s x s scores, so the 5as/h term is dropped as "
            "selective recomputation drops it (not in Korthikanti et al.).",
            KORTHIKANTI,
        )
    if inp.numerics.precision is Precision.FP32:
        led.note(
            A,
            "fp32-activations",
            "fp32 activations are counted at twice the 16-bit bytes.",
            FTMATRIX,
        )
    if batch.gradient_checkpointing:
        disagreement(
            led,
            9,
            "Korthikanti's 2sbh per block, plus one block's activations live while it is "
            "recomputed (an ftmatrix assumption).",
        )


def _quantization(led: Ledger, inp: EstimateInput, stage: int) -> None:
    quant = inp.technique.quantized
    if quant is None:
        return
    led.note(
        A,
        "quantized-modules",
        "Only the block linears are quantized; embeddings, the output layer, norms and biases "
        "stay 16-bit (bitsandbytes replaces nn.Linear modules; transformers skips the output "
        "layer).",
        QLORA,
    )
    if quant.bits == 4:
        disagreement(led, 6, "the bitsandbytes layout (the measured 5,048 MB is not fitted).")
        disagreement(led, 8, "the bitsandbytes code: n/2 bytes of storage.")
        if quant.nested:
            disagreement(led, 7, "the bitsandbytes layout (uint8 constants, bytes agree).")
    offloaded = inp.parallelism.offload.optimizer is not OffloadDevice.NONE or (
        inp.parallelism.offload.params is not OffloadDevice.NONE
    )
    if stage == 3 and offloaded and inp.parallelism.fsdp is None:
        disagreement(
            led,
            10,
            "the formulas, which predict less GPU memory with offload; treat this estimate of "
            "ZeRO-3 + a quantized base + CPU offload as unverified.",
        )
