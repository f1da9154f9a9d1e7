"""Activation bytes of a transformer block, after Korthikanti et al. (arXiv 2205.05198).

Per block, 16-bit activations and 1-byte dropout masks, small buffers ignored (Table 2):

    no parallelism                  sbh(34 + 5as/h)
    tensor parallel (t)             sbh(10 + 24/t + 5as/(ht))
    tensor + sequence parallel      sbh/t (34 + 5as/h)
    selective recomputation         drops the 5as/h term (the stored attention scores)
    full recomputation              2sbh (only the block input is kept)

s = sequence length, b = micro-batch, h = hidden size, a = attention heads. The formula is for
a GPT block (4h GeLU MLP, multi-head attention); FlashAttention also never stores the s x s
scores, so it is counted like selective recomputation (memory-formulas.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Batch:
    """The sizes the formulas take."""

    seq_len: int
    micro_batch: int
    hidden: int
    heads: int
    vocab: int
    tensor_parallel: int = 1
    sequence_parallel: bool = False


def block(batch: Batch, *, keep_scores: bool = True) -> int:
    """Bytes one block stores for backward without full recomputation.

    `keep_scores` False drops the 5as²b term (selective recomputation, FlashAttention).
    """
    s, b, h, a, t = (
        batch.seq_len,
        batch.micro_batch,
        batch.hidden,
        batch.heads,
        batch.tensor_parallel,
    )
    scores = 5 * a * s * s * b if keep_scores else 0
    if batch.sequence_parallel:
        return (34 * s * b * h + scores) // t
    return (10 * s * b * h * t + 24 * s * b * h + scores) // t


def checkpoint(batch: Batch) -> int:
    """Bytes one block keeps under full recomputation: its 16-bit input, 2sbh (sharded by t
    with sequence parallelism)."""
    kept = 2 * batch.seq_len * batch.micro_batch * batch.hidden
    return kept // batch.tensor_parallel if batch.sequence_parallel else kept


def outside_blocks(batch: Batch) -> int:
    """Embeddings, final norm and fp32 logits without pipeline parallelism (p = 1):
    sbhL/t x (p/L + (4/L)(1 + v/h)) = 5sbh/t + 4sbv/t."""
    s, b, h, v, t = (
        batch.seq_len,
        batch.micro_batch,
        batch.hidden,
        batch.vocab,
        batch.tensor_parallel,
    )
    return (5 * s * b * h + 4 * s * b * v) // t


def attention_share(batch: Batch) -> float:
    """5as/h, the attention-score term relative to sbh (80 for GPT-3 at s = 2048)."""
    return 5 * batch.heads * batch.seq_len / batch.hidden
