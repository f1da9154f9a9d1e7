"""Where every formula comes from, and the eleven places where the sources disagree.

Sources are cited by paper (arXiv id and section) or by file at the commit read; the set and
the disagreements are those compiled in shared/reference/memory-formulas.md.
"""

from __future__ import annotations

from service.estimates.choices import NoteKind
from service.estimates.result import Ledger

ZERO = "Rajbhandari et al., ZeRO, arXiv 1910.02054 §3.1, §5.1-5.3, Table I"
ZERO_RESIDUAL = "Rajbhandari et al., ZeRO, arXiv 1910.02054 §3.2"
DEEPSPEED_ZERO2 = (
    "DeepSpeed deepspeed/runtime/zero/stage_1_and_2.py::estimate_zero2_model_states_mem_needs "
    "@edaa7221"
)
DEEPSPEED_ZERO3 = (
    "DeepSpeed deepspeed/runtime/zero/stage3.py::estimate_zero3_model_states_mem_needs @edaa7221"
)
DEEPSPEED_DOCS = "DeepSpeed docs/code-docs/source/memory.rst @edaa7221"
DEEPSPEED_CONFIG = "DeepSpeed docs/_pages/config-json.md (offload_optimizer, offload_param)"
ACCELERATE = (
    "Accelerate src/accelerate/commands/estimate.py::estimate_training_usage, gather_data @16cb6eb8"
)
KORTHIKANTI = "Korthikanti et al., arXiv 2205.05198 §4-5, Table 2"
QLORA = "Dettmers et al., QLoRA, arXiv 2305.14314 §3"
BNB_4BIT = "bitsandbytes functional.quantize_4bit, nn.Params4bit @95f9af30"
BNB_8BIT = "bitsandbytes functional.int8_vectorwise_quant, nn.Int8Params._quantize"
LORA = "Hu et al., LoRA, arXiv 2106.09685 §4.2"
DORA = "Liu et al., DoRA, arXiv 2402.09353 §4.3; PEFT src/peft/tuners/lora/dora.py @5d602fdb"
HF_ANATOMY = "transformers docs/source/en/model_memory_anatomy.md"
HF_ONE_GPU = "transformers docs/source/en/perf_train_gpu_one.md (Adafactor, 8-bit Adam)"
LLAMA_FACTORY = "LLaMA-Factory README, Hardware Requirement (pure bf16 full: 8 GB per 1B params)"
TORCH_FSDP = "PyTorch torch.distributed.fsdp ShardingStrategy and CPUOffload docs"
ACCELERATE_FSDP = "Accelerate docs/source/concept_guides/fsdp_and_deepspeed.md"
PEFT_DEEPSPEED = "PEFT docs/source/accelerate/deepspeed.md @5d602fdb"
PEFT_FSDP = "PEFT docs/source/accelerate/fsdp.md @5d602fdb"
FTMATRIX = "ftmatrix assumption (no source gives this term)"

DISAGREEMENTS: dict[int, tuple[str, str]] = {
    1: (
        "Bytes per parameter for mixed-precision Adam on one GPU: ZeRO paper 16 (fp16 "
        "gradients); DeepSpeed's ZeRO-2 estimator 20 (fp16 and fp32 gradients); its ZeRO-3 "
        "estimator 18 plus 4 x largest layer; transformers' docs 18 (fp32 gradients); "
        "Accelerate 8 (fp16/bf16, the largest single component) or 16 (fp32).",
        f"{ZERO}; {DEEPSPEED_ZERO2}; {DEEPSPEED_ZERO3}; {HF_ANATOMY}; {ACCELERATE}",
    ),
    2: (
        "DeepSpeed docs vs code: the docs' ZeRO-2 t5-3b example prints 15.93 GB per GPU (the "
        "formula before PR #5099, 4P + 16P/N) where the current code gives 11.28 (2P + 18P/N); "
        "the docs' ZeRO-2 offload CPU term uses GPUs per node, the code uses all GPUs.",
        f"{DEEPSPEED_DOCS}; {DEEPSPEED_ZERO2}",
    ),
    3: (
        "Accelerate docs vs code: the docs print int8/int4 'Training using Adam' as 4 x the "
        "dtype size (413.18 / 206.59 MB for bert-base-cased); current code prints N/A.",
        f"Accelerate docs/source/usage_guides/model_size_estimator.md; {ACCELERATE}",
    ),
    4: (
        "The LoRA paper's 1.2 TB for GPT-3 full fine-tuning is about 6.9 B/param, which no "
        "accounting here gives (ZeRO: 16 B/param = 2.8 TB); its 350 GB with LoRA is exactly the "
        "fp16 weights (2 B/param).",
        LORA,
    ),
    5: (
        "QLoRA's '>780 GB' for 16-bit fine-tuning of LLaMA-65B is what 12 B/param gives; the "
        "ZeRO accounting gives 16 B/param (1,045 GB). Both agree it is a lower bound.",
        QLORA,
    ),
    6: (
        "QLoRA's 7B 4-bit base: the paper measured 5,048 MB; the bitsandbytes layout with 16-bit "
        "embeddings and output layer gives about 3,866 MB. The gap is not explained in the text.",
        f"{QLORA}; {BNB_4BIT}",
    ),
    7: (
        "Double-quantization format: the paper says 8-bit floats, bitsandbytes quantizes the "
        "constants with its dynamic 8-bit map; both take 8 bits, so the bytes agree.",
        f"{QLORA}; {BNB_4BIT}",
    ),
    8: (
        "Packing with bnb_4bit_quant_storage=bfloat16: PEFT's DeepSpeed page says 32/4 = 8 "
        "params per element, its FSDP page 16/4 = 4 (right: bitsandbytes packs itemsize x 2); "
        "the storage is n/2 bytes either way.",
        f"{PEFT_DEEPSPEED}; {PEFT_FSDP}; {BNB_4BIT}",
    ),
    9: (
        "Activation checkpointing of GPT-2 1.5B (s=1K, b=32): ZeRO says about 8 GB remain; "
        "Korthikanti's full-recomputation 2sbhL gives 5.0 GB (different checkpoint "
        "granularity).",
        f"{ZERO_RESIDUAL}; {KORTHIKANTI}",
    ),
    10: (
        "ZeRO-3 + QLoRA with CPU offload used more GPU memory than without in PEFT's runs; every "
        "formula here predicts less.",
        PEFT_DEEPSPEED,
    ),
    11: (
        "Optimizer offload: PEFT/Accelerate prompts say 'Only applicable with ZeRO >= Stage-2'; "
        "DeepSpeed's config docs allow CPU offload with stages 1, 2 and 3; DeepSpeed's "
        "estimator covers stages 2 and 3 only.",
        f"{PEFT_DEEPSPEED}; {DEEPSPEED_CONFIG}",
    ),
}
"""Case number -> (what the sources say, the sources)."""


def disagreement(ledger: Ledger, case: int, followed: str) -> None:
    """Record disagreement `case` with the choice this estimate follows (case 10, a measured
    behaviour no formula predicts, is recorded as a caveat)."""
    said, sources = DISAGREEMENTS[case]
    kind = NoteKind.CAVEAT if case == 10 else NoteKind.DISAGREEMENT
    ledger.note(kind, f"disagreement-{case}", f"{said} Followed: {followed}", sources)
