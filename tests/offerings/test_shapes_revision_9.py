"""The second published-shapes revision (issue 12): head_dim and qkv_bias in the catalog's
shape, every shape it writes with its source and confidence, the models it leaves without a
shape saying which sources disagree, history before it still reading the old data, the
estimator counting Gemma 3's attention at its real head width, and the migration's downgrade
undoing exactly this revision."""

from __future__ import annotations

from typing import Any, Final

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from migrations import seedlib
from service import db as migrate
from service.estimates.entities import catalog_model
from service.estimates.errors import EstimateError
from service.estimates.shapes import shape_params
from tests.helpers import model_read, revision_with_reason
from tests.offerings.test_errata import _rows

MIGRATION: Final = "0016"
SEED: Final = "first-party-shapes-2026-12.json"
REASON_START: Final = "Published shapes 2026-12, part 2 (issue 12)"
EARLIER_START: Final = "Published shapes 2026-12 (issue 12, open items)"

GEMMA_CODE: Final = (
    "https://github.com/google-deepmind/gemma/blob/9fec24caa4890f34d78f8fb75f640127b735537b/"
    "gemma/gm/nn/_gemma.py"
)
GEMMA_PYTORCH: Final = (
    "https://github.com/google/gemma_pytorch/blob/de621eb31fd488cbd4a2dab12a128fca803e89b2/"
    "gemma/config.py"
)
DOTNET: Final = "https://github.com/dotnet/machinelearning/blob/"
DOTNET_4K: Final = DOTNET + "17b689af77151463cf3b24100c32d558f779c620/"
DOTNET_128K: Final = DOTNET + "6d1f7e2bf83e260ceb4f07ad1ae9fe3257033d49/"
ORT_PHI4: Final = (
    "https://github.com/microsoft/onnxruntime-genai/blob/3226c1cc728a6fb331f596c2f0842cbbde61c72f/"
    "test/python/fixtures/phi-4-mini/config.json"
)
PHI35_COPY: Final = "https://github.com/sdpython/experimental-experiment/blob/04097e30"
QWEN_BLOG: Final = (
    "https://github.com/QwenLM/qwenlm.github.io/blob/0069c1fccd35f7eaf554331ae6b9ee4de02140cf/"
    "blog/qwen2.5-llm/index.html"
)

# id: (layers, hidden, heads, kv_heads, intermediate, vocab, tied, context, head_dim, qkv_bias,
#      confidence, source)
SHAPES: Final[dict[str, tuple[Any, ...]]] = {
    "gemma-3-1b-it": (26, 1152, 4, 1, 6912, 262144, True, 32768, 256, False, "medium",
                      GEMMA_CODE),
    "gemma-3-12b-it": (48, 3840, 16, 8, 15360, 262144, True, 131072, 256, False, "medium",
                       GEMMA_CODE),
    "gemma-3-27b-it": (62, 5376, 32, 16, 21504, 262144, True, 131072, 128, False, "medium",
                       GEMMA_CODE),
    "phi-3-mini-4k-instruct": (32, 3072, 32, 32, 8192, 32064, False, 4096, None, False,
                               "medium", DOTNET_4K),
    "phi-3-mini-128k-instruct": (32, 3072, 32, 32, 8192, 32064, False, 131072, None, False,
                                 "medium", DOTNET_128K),
    "phi-4-mini-instruct": (32, 3072, 24, 8, 8192, 200064, True, 131072, None, False, "medium",
                            ORT_PHI4),
    "phi-3.5-mini-instruct": (32, 3072, 32, 32, 8192, 32064, False, 131072, None, False, "low",
                              PHI35_COPY),
    "qwen2.5-72b": (80, 8192, 64, 8, 29568, 152064, False, 131072, None, True, "low",
                    QWEN_BLOG),
}  # fmt: skip
FIELDS: Final = ("layers", "hidden", "heads", "kv_heads", "intermediate", "vocab",
                 "tied_embeddings", "context", "head_dim", "qkv_bias")  # fmt: skip
NO_SHAPE: Final = {
    # id: what the note names as the disagreement, and a source it cites
    "phi-3.5-moe-instruct": (("attention_bias", "lm_head_bias", "experts"), "phimoe"),
    "phi-4-multimodal-instruct": (("32 attention heads", "24 heads", "tie_word_embeddings"),
                                  "TensorRT-LLM"),
}  # fmt: skip
CHANGED: Final = {*SHAPES, *NO_SHAPE, "phi-3-small-8k-instruct"}


def _number(client: TestClient, start: str = REASON_START) -> int:
    return revision_with_reason(client, start)


def _total(client: TestClient, model: str) -> int:
    r = client.post("/v1/estimates", json={"model": model})
    assert r.status_code == 200, r.text
    return int(r.json()["params"]["total"])


def test_the_revision_follows_the_first_shapes_and_lists_every_change(
    client: TestClient,
) -> None:
    number = _number(client)
    assert number == _number(client, EARLIER_START) + 1
    body = client.get(f"/v1/revisions/{number}").json()
    assert body["author"] == "ftmatrix seed"
    for name in ("head_dim", "google-deepmind/gemma", "dotnet/machinelearning",
                 "onnxruntime-genai", "Qwen's blog"):  # fmt: skip
        assert name in body["reason"]
    changes = {c["id"]: c for c in body["changes"]}
    assert set(changes) == CHANGED
    assert {c["kind"] for c in changes.values()} == {"model"}
    assert {c["op"] for c in changes.values()} == {"update"}
    assert changes["gemma-3-1b-it"]["before"]["architecture"] is None
    assert changes["gemma-3-1b-it"]["after"]["architecture"]["head_dim"] == 256


@pytest.mark.parametrize("ident", sorted(SHAPES))
def test_each_shape_carries_its_source_and_confidence(client: TestClient, ident: str) -> None:
    *values, confidence, source = SHAPES[ident]
    model = model_read(client, ident)
    arch = model["architecture"]
    assert [arch[f] for f in FIELDS] == values
    assert arch["confidence"] == confidence
    assert any(s.startswith(source) for s in arch["sources"]), arch["sources"]
    assert arch["note"]
    assert model["note"] is None  # the old "shape left empty" notes are gone
    # Every source is pinned: a GitHub blob URL at a commit.
    for cited in arch["sources"]:
        if cited.startswith("https://github.com/"):
            assert len(cited.split("/blob/")[1].split("/")[0]) == 40, cited
    # A shape whose values are read only in third-party sources is never above low.
    if confidence != "low":
        assert not all("third-party" in s for s in arch["sources"])


def test_qwen_says_which_values_are_the_makers(client: TestClient) -> None:
    model = model_read(client, "qwen2.5-72b")
    assert model["parameters"] == "72.7B"
    note = model["architecture"]["note"]
    assert note.startswith("Qwen's values, from its blog's model card table: 80 layers, 64")
    assert "Third-party only, hence low: hidden 8192, intermediate 29568" in note
    assert any(QWEN_BLOG in s for s in model["sources"])


def test_phi_3_small_keeps_its_vocabulary_empty_and_says_why(client: TestClient) -> None:
    arch = model_read(client, "phi-3-small-8k-instruct")["architecture"]
    assert (arch["vocab"], arch["tied_embeddings"], arch["confidence"]) == (None, None, "medium")
    assert "vocab_size 100352" in arch["note"]
    assert "one confidence" in arch["note"]
    assert any("scaleapi/llm-engine" in s and "not taken" in s for s in arch["sources"])


@pytest.mark.parametrize("ident", sorted(NO_SHAPE))
def test_models_left_without_a_shape_say_which_sources_disagree(
    client: TestClient, ident: str
) -> None:
    words, source = NO_SHAPE[ident]
    model = model_read(client, ident)
    assert model["architecture"] is None
    assert model["note"].startswith("No shape is recorded. No Microsoft config.json was read")
    for word in words:
        assert word in model["note"], word
    assert any(source in s for s in model["sources"])
    with pytest.raises(EstimateError, match="no architecture shape"):
        catalog_model({"id": ident, **model})


def test_history_before_the_revision_reads_the_old_data(client: TestClient) -> None:
    before = _number(client) - 1
    for ident in ("gemma-3-1b-it", "gemma-3-12b-it", "gemma-3-27b-it", "qwen2.5-72b",
                  "phi-4-mini-instruct", "phi-3.5-mini-instruct"):  # fmt: skip
        old = model_read(client, ident, at=before)
        assert old["architecture"] is None, ident
        assert old["note"], ident
    mini = model_read(client, "phi-3-mini-4k-instruct", at=before)["architecture"]
    assert mini["confidence"] == "low"
    assert not any(s.startswith(DOTNET) for s in mini["sources"])
    assert (mini["head_dim"], mini["qkv_bias"]) == (None, None)  # fields the data did not have
    old_128k = model_read(client, "phi-3-mini-128k-instruct", at=before)["architecture"]
    assert old_128k["kv_heads"] is None
    small = model_read(client, "phi-3-small-8k-instruct", at=before)["architecture"]
    assert "100352" not in small["note"]
    assert model_read(client, "qwen2.5-72b", at=before)["parameters"] is None


def test_the_estimator_counts_gemma_attention_at_head_dim_256(client: TestClient) -> None:
    h, heads, kv, ff, vocab, layers = 1152, 4, 1, 6912, 262144, 26
    # q, k, v and o projections of one block, by hand: q and o are h x heads*d, k and v h x kv*d.
    attention_256 = h * heads * 256 + 2 * h * kv * 256 + heads * 256 * h
    attention_288 = h * heads * 288 + 2 * h * kv * 288 + heads * 288 * h  # 288 = hidden / heads
    assert (attention_256, attention_288) == (2_949_120, 3_317_760)
    block = attention_256 + 3 * h * ff + 2 * h  # gated MLP, two norms
    by_hand = layers * block + vocab * h + h  # tied embedding, final norm
    assert _total(client, "google/gemma-3-1b-it") == by_hand == 999_812_736
    # The same shape without head_dim is counted at hidden / heads: the attention's difference.
    record = {"id": "gemma-3-1b-it", **model_read(client, "gemma-3-1b-it")}
    shape = catalog_model(record).model.shape
    record["architecture"] = {**record["architecture"], "head_dim": None}
    wider = catalog_model(record).model.shape
    assert shape is not None
    assert wider is not None
    assert (shape.dim_head, wider.dim_head) == (256, 288)
    assert shape_params(wider) - shape_params(shape) == layers * (attention_288 - attention_256)
    # Before this revision the catalog had no shape to size it with.
    old = model_read(client, "gemma-3-1b-it", at=_number(client) - 1)
    with pytest.raises(EstimateError, match="no architecture shape"):
        catalog_model({"id": "gemma-3-1b-it", **old})


def test_qwen_counts_its_qkv_biases_and_matches_qwens_total(client: TestClient) -> None:
    assert _total(client, "Qwen/Qwen2.5-72B") == 72_706_203_648  # Qwen's blog: 72.7B
    record = {"id": "qwen2.5-72b", **model_read(client, "qwen2.5-72b")}
    biased = catalog_model(record).model.shape
    record["architecture"] = {**record["architecture"], "qkv_bias": None}
    unbiased = catalog_model(record).model.shape
    assert biased is not None
    assert unbiased is not None
    assert (biased.qkv_bias, unbiased.qkv_bias) == (True, False)
    # One bias per q, k and v output feature: 64 x 128 + 2 x 8 x 128 a block, 80 blocks.
    assert shape_params(biased) - shape_params(unbiased) == 80 * (64 * 128 + 2 * 8 * 128)


def test_the_changes_are_refused_on_data_they_were_not_written_for(database_url: str) -> None:
    # At head the data already holds what the seed writes, so its `before` values mismatch.
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            for change in seedlib.load_json(SEED)["changes"]:
                with pytest.raises(RuntimeError, match=f"expected model {change['id']} "):
                    seedlib.apply_entity_changes(conn, 99, [change])
            conn.rollback()
    finally:
        engine.dispose()


def test_downgrade_undoes_exactly_this_revision_and_upgrade_redoes_it(
    empty_database_url: str,
) -> None:
    below = ScriptDirectory.from_config(migrate.alembic_config(empty_database_url)).get_revision(
        MIGRATION
    )
    assert below is not None
    assert isinstance(below.down_revision, str)
    migrate.upgrade(empty_database_url, below.down_revision)
    before = _rows(empty_database_url)
    migrate.upgrade(empty_database_url, MIGRATION)
    after = _rows(empty_database_url)
    assert after != before
    migrate.downgrade(empty_database_url, below.down_revision)
    assert _rows(empty_database_url) == before
    migrate.upgrade(empty_database_url, MIGRATION)
    assert _rows(empty_database_url) == after
