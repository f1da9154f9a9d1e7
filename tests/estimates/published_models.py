"""Model shapes and sizes the tests use, each from memory-formulas.md or the published
config named beside it (shared/reference/memory-formulas.md §10 unless said otherwise)."""

from __future__ import annotations

from service.estimates import ModelShape

LLAMA_7B = ModelShape(layers=32, hidden=4096, heads=32, vocab=32000, intermediate=11008)
"""transformers `LlamaConfig` defaults @008e5743 ("llama-7b style"); 6,738,415,616 params."""

LLAMA_65B = ModelShape(layers=80, hidden=8192, heads=64, vocab=32000, intermediate=22016)
"""LLaMA-65B (third-party copies of the Hugging Face config: an input, not an anchor)."""

LLAMA2_70B = ModelShape(
    layers=80, hidden=8192, heads=64, kv_heads=8, vocab=32000, intermediate=28672
)
"""Llama-2-70B (third-party copies of the Hugging Face config: an input, not an anchor)."""

QWEN25_3B = ModelShape(
    layers=36,
    hidden=2048,
    heads=16,
    kv_heads=2,
    vocab=151936,
    intermediate=11008,
    tied_embeddings=True,
    qkv_bias=True,
)
"""Qwen2.5-3B as memory-formulas.md §6 gives it (the shape that makes PEFT's two printed
totals exact)."""

GPT3_175B = ModelShape(layers=96, hidden=12288, heads=96, vocab=50257, gated_mlp=False)
"""GPT-3 175B: L=96, d_model=12288, 96 heads (Brown et al., arXiv 2005.14165, Table 2.1). The
vocabulary is GPT-2's 50,257 (Radford et al. 2019 §2.2; GPT-3 reuses GPT-2's tokenization,
Brown et al. §2.1); no count asserted here depends on it."""

GPT2_XL = ModelShape(layers=48, hidden=1600, heads=25, vocab=50257, gated_mlp=False)
"""GPT-2 1.5B: 48 layers, d_model 1600 (GPT-2 paper, Table 2); 25 heads and the 50,257 vocabulary
from Hugging Face openai-community/gpt2-xl config.json (n_head, vocab_size)."""

T5_3B_PARAMS, T5_3B_LARGEST = 2_851_000_000, 32_000_000
"""t5-3b as DeepSpeed's docs print it (2851M params, 32M largest layer)."""
T5_LARGE_PARAMS, T5_LARGE_LARGEST = 737_670_000, 32_900_000
"""t5-large as DeepSpeed's docs print it (737.67M params, 32.90M largest layer)."""


def bert_base_cased() -> tuple[int, int]:
    """Parameters and buffer bytes of `AutoModel` bert-base-cased (BertModel with pooler),
    from its config.json (vocab 28996, hidden 768, 12 layers, intermediate 3072, 512
    positions, 2 token types). The buffers are BertEmbeddings' int64 position_ids and
    token_type_ids (512 each). Accelerate's test pins the fp32 total of both: 433,249,280 B."""
    vocab, hidden, layers, inner, positions, types = 28996, 768, 12, 3072, 512, 2
    embeddings = (vocab + positions + types) * hidden + 2 * hidden
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    mlp = hidden * inner + inner + inner * hidden + hidden + 2 * hidden
    pooler = hidden * hidden + hidden
    params = embeddings + layers * (attention + mlp) + pooler
    return params, 2 * positions * 8
