"""The published-shapes revision (issue 12's open items): every shape it writes carries its
source and confidence, history before it still reads the old data, the estimator answers for
models it could not size before, every GPU's memory basis is stated, and the migration's
downgrade undoes exactly this revision."""

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
from tests.helpers import model_read, revision_with_reason
from tests.offerings.test_errata import ERRATA, _rows

MIGRATION: Final = "0015"
REASON_START: Final = "Published shapes 2026-12 (issue 12, open items)"
META_SKU: Final = "meta-llama/llama-models:models/sku_list.py@5309637c"
MISTRAL_V03: Final = "https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3/blob/c170c708"
PHI3_MEDIUM_4K: Final = "https://huggingface.co/microsoft/Phi-3-medium-4k-instruct/blame/3da3d153"
LLAMA2_CARD: Final = "meta-llama/llama-models:models/llama2/MODEL_CARD.md@d13eea5e"
BASIS: Final = "vendor decimal GB, exact capacity unverified"

# id: (layers, hidden, heads, kv_heads, intermediate, vocab, tied, context, confidence, source)
SHAPES: Final[dict[str, tuple[Any, ...]]] = {
    "meta-llama-3-8b-instruct": (32, 4096, 32, 8, 14336, 128256, False, 8192, "medium", META_SKU),
    "llama-3.1-8b": (32, 4096, 32, 8, 14336, 128256, False, 131072, "medium", META_SKU),
    "llama-3.2-1b": (16, 2048, 32, 8, 8192, 128256, True, 131072, "medium", META_SKU),
    "llama-2-70b": (80, 8192, 64, 8, 28672, 32000, None, 4096, "medium", META_SKU),
    "llama-2-7b": (32, 4096, 32, 32, 11008, 32000, False, 4096, "low", LLAMA2_CARD),
    "llama-2-13b": (40, 5120, 40, 40, 13824, 32000, False, 4096, "low", LLAMA2_CARD),
    "mistral-7b-v0.3": (32, 4096, 32, 8, 14336, 32768, False, 32768, "medium", MISTRAL_V03),
    "mistral-7b-v0.1": (32, 4096, 32, 8, 14336, 32000, False, 32768, "low", "dfurman/"),
    "phi-3-medium-4k-instruct": (40, 5120, 40, 10, 17920, 32064, False, 4096, "high",
                                 PHI3_MEDIUM_4K),
    "phi-3-medium-128k-instruct": (40, 5120, 40, 10, 17920, 32064, False, 131072, "medium",
                                   "Phi-3-medium-128k-instruct/blob/refs%2Fpr%2F5"),
    "phi-3-small-8k-instruct": (32, 4096, 32, 8, 14336, None, None, 8192, "medium",
                                "Phi-3-small-8k-instruct/blame/refs%2Fpr%2F3"),
    "phi-3-small-128k-instruct": (32, 4096, 32, 8, 14336, None, None, 131072, "medium",
                                  "Phi-3-small-128k-instruct-onnx-cuda"),
    "qwen2.5-7b": (28, 3584, 28, 4, 18944, 152064, False, 131072, "low", "Teleut-7b"),
    "qwen2.5-coder-7b-instruct": (28, 3584, 28, 4, 18944, 152064, False, 32768, "low",
                                  "VERSIL91/"),
    "qwen2.5-coder-32b-instruct": (64, 5120, 40, 8, 27648, 152064, False, 32768, "low",
                                   "ai-team-20/"),
}  # fmt: skip
FIELDS: Final = ("layers", "hidden", "heads", "kv_heads", "intermediate", "vocab",
                 "tied_embeddings", "context")  # fmt: skip
NO_SHAPE: Final = ("qwen2.5-72b", "gemma-3-1b-it", "gemma-3-12b-it", "gemma-3-27b-it")
CREATED: Final = {"llama-2-7b", "llama-2-13b", "llama-3.1-8b", "llama-3.2-1b", "mistral-7b-v0.1",
                  "qwen2.5-7b", *NO_SHAPE}  # fmt: skip


def _number(client: TestClient) -> int:
    return revision_with_reason(client, REASON_START)


def _hardware(client: TestClient, ident: str, **params: Any) -> Any:
    r = client.get(f"/v1/hardware/{ident}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["hardware"]


def test_the_revision_follows_the_errata_and_lists_every_change(client: TestClient) -> None:
    number = _number(client)
    assert number > ERRATA
    body = client.get(f"/v1/revisions/{number}").json()
    assert body["author"] == "ftmatrix seed"
    for name in ("llama-models", "Azure", "GB against GiB"):
        assert name in body["reason"]
    changes = {(c["kind"], c["id"]): c for c in body["changes"]}
    assert {ident for (kind, ident), c in changes.items() if c["op"] == "create"} == CREATED
    assert all(c["op"] == "update" for (_, ident), c in changes.items() if ident not in CREATED)
    assert {ident for kind, ident in changes if kind == "hardware"} == {
        "a10-24gb", "v100-32gb", "rtx-4090-24gb", "a100-40gb", "a100-80gb", "h100-80gb",
        "h200-141gb", "l4-24gb", "t4-16gb", "mi300x-192gb",
    }  # fmt: skip
    mistral = changes["model", "mistral-7b-v0.3"]
    assert mistral["before"]["architecture"] is None
    assert mistral["after"]["architecture"]["vocab"] == 32768
    assert MISTRAL_V03.split("/blob/")[0] in " ".join(mistral["after"]["sources"])


@pytest.mark.parametrize("ident", sorted(SHAPES))
def test_each_shape_carries_its_source_and_confidence(client: TestClient, ident: str) -> None:
    *values, confidence, source = SHAPES[ident]
    arch = model_read(client, ident)["architecture"]
    assert [arch[f] for f in FIELDS] == values
    assert arch["confidence"] == confidence
    assert any(source in s for s in arch["sources"]), arch["sources"]
    assert arch["note"]
    # A shape read only in third-party copies is never more than low confidence.
    if all("third-party" in s for s in arch["sources"]):
        assert confidence == "low"


@pytest.mark.parametrize("ident", NO_SHAPE)
def test_models_without_a_usable_shape_say_why(client: TestClient, ident: str) -> None:
    # As this revision left them: a later revision gives some of them a shape.
    model = model_read(client, ident, at=_number(client))
    assert model["architecture"] is None
    assert "left empty" in model["note"]
    assert model["aliases"] == [
        f"{'Qwen' if ident.startswith('qwen') else 'google'}/{model['name']}"
    ]


def test_corpus_ids_and_mirrors_resolve_to_the_new_models(client: TestClient) -> None:
    # The estimator resolves a model the way the check does, local paths included.
    for alias, ident in (
        ("NousResearch/Llama-2-7b-hf", "llama-2-7b"),
        ("models/Llama-2-7b", "llama-2-7b"),
        ("meta-llama/Llama-3.1-8B", "llama-3.1-8b"),
        ("NousResearch/Llama-3.2-1B", "llama-3.2-1b"),
        ("models/Qwen2.5-7B", "qwen2.5-7b"),
        ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b"),
    ):
        r = client.post("/v1/estimates", json={"model": alias})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == ident, alias
    where = client.get("/v1/where", params={"model": "google/gemma-3-1b-it", "technique": "lora"})
    assert where.json()["model"] == "gemma-3-1b-it"


def test_history_before_the_revision_reads_the_old_data(client: TestClient) -> None:
    before = _number(client) - 1
    assert model_read(client, "mistral-7b-v0.3", at=before)["architecture"] is None
    old = model_read(client, "meta-llama-3-8b-instruct", at=before)["architecture"]
    assert old["confidence"] == "low"
    assert not any(META_SKU in s for s in old["sources"])
    assert client.get("/v1/models/llama-2-7b", params={"at": before}).status_code == 404
    assert _hardware(client, "a10-24gb", at=before)["memory_bytes"] is None
    assert _hardware(client, "h100-80gb", at=before)["statements"] == []


def test_the_estimator_now_sizes_a_model_it_could_not_before(client: TestClient) -> None:
    old = model_read(client, "mistral-7b-v0.3", at=_number(client) - 1)
    with pytest.raises(EstimateError, match="no architecture shape"):
        catalog_model(old)
    r = client.post(
        "/v1/estimates",
        json={"model": "mistralai/Mistral-7B-v0.3", "technique": {"method": "qlora"},
              "hardware": ["a10-24gb", "rtx-4090-24gb"]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "mistral-7b-v0.3"
    # The Llama-layout count of the Instruct-v0.3 config's sizes (32768-token vocabulary).
    assert body["params"]["total"] > body["params"]["trainable"] > 0
    fits = {f["hardware"]: f for f in body["fits"]}
    assert fits["a10-24gb"]["memory_bytes"] == 24 * 10**9
    assert fits["a10-24gb"]["fits"] is not None  # judged now that its memory is in the data


def test_a_shape_reproduces_a_published_total(client: TestClient) -> None:
    # LLaMA-7B's count (shared/reference/memory-formulas.md section 10): Llama 2 7B's shape.
    body = client.post("/v1/estimates", json={"model": "NousResearch/Llama-2-7b-hf"}).json()
    assert body["params"]["total"] == 6_738_415_616


@pytest.mark.parametrize(
    ("ident", "stated", "low", "high"),
    [
        # Meta and Qwen truncate their figures; Microsoft's "14B" is rounded.
        ("llama-3.2-1b", "1.23B", 1.23e9, 1.24e9),
        ("qwen2.5-7b", "7.61B", 7.61e9, 7.62e9),
        ("phi-3-medium-4k-instruct", "14B", 13.5e9, 14.5e9),
    ],
)
def test_shapes_agree_with_the_stated_parameter_counts(
    client: TestClient, ident: str, stated: str, low: float, high: float
) -> None:
    assert model_read(client, ident)["parameters"] == stated
    total = client.post("/v1/estimates", json={"model": ident}).json()["params"]["total"]
    assert low <= total < high


def test_every_gpu_states_its_memory_basis(client: TestClient) -> None:
    items = client.get("/v1/hardware").json()["items"]
    gpus = [h for h in items if h["kind"] == "gpu"]
    assert len(gpus) == 10
    for gpu in gpus:
        stated_gb = int(gpu["id"].rsplit("-", 1)[1].removesuffix("gb"))
        assert gpu["memory_bytes"] == stated_gb * 10**9, gpu["id"]
        [basis] = [s for s in gpu["statements"] if BASIS in s["text"]]
        assert basis["confidence"] == "low"
        assert BASIS in gpu["note"]
    v100 = _hardware(client, "v100-32gb")
    assert "32 GiB" in v100["memory_stated"]
    assert any("ndv2-series-specs.md" in s for s in v100["sources"])
    a10 = _hardware(client, "a10-24gb")  # the two includes that label it GiB and GB
    assert [s.rsplit("/", 1)[1].split("@")[0] for s in a10["statements"][0]["sources"]] == [
        "nvads-a10-v5-series-specs.md", "nvadsa10v5-series-specs.md"
    ]  # fmt: skip
    assert _hardware(client, "rtx-4090-24gb")["confidence"] == "low"


def test_a_change_is_refused_on_data_it_was_not_written_for(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            change = {"kind": "model", "id": "phi-4", "before": {"parameters": "14B"},
                      "after": {"parameters": "15B"}}  # fmt: skip
            with pytest.raises(RuntimeError, match="phi-4 parameters"):
                seedlib.apply_entity_changes(conn, 99, [change])
            create: dict[str, Any] = {"kind": "model", "id": "phi-4", "before": None, "after": {}}
            with pytest.raises(RuntimeError, match="already exists"):
                seedlib.apply_entity_changes(conn, 99, [create])
            conn.rollback()
    finally:
        engine.dispose()


def test_downgrade_undoes_exactly_this_revision(empty_database_url: str) -> None:
    below = ScriptDirectory.from_config(migrate.alembic_config(empty_database_url)).get_revision(
        MIGRATION
    )
    assert below is not None
    assert isinstance(below.down_revision, str)
    migrate.upgrade(empty_database_url, below.down_revision)
    before = _rows(empty_database_url)
    migrate.upgrade(empty_database_url, MIGRATION)
    assert _rows(empty_database_url) != before
    migrate.downgrade(empty_database_url, below.down_revision)
    assert _rows(empty_database_url) == before
