"""Models, hardware, platforms, offerings and /v1/where over HTTP, on the migrated data."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.published import CURRENT

SEED_REVISION, SOURCED_REVISION = 5, 6


def test_where_ranks_offerings_and_explains_exclusions(client: TestClient) -> None:
    r = client.get("/v1/where", params={"model": "phi-3-mini-4k-instruct", "technique": "lora"})
    assert r.status_code == 200
    body = r.json()
    fits = {m["offering"]: m["fit"] for m in body["matches"]}
    assert fits["kaito-tuning"] == "yes"
    assert fits["azureml-finetune-pipeline"] == "yes"
    assert fits["foundry-managed-compute-finetuning"] == "unconfirmed"  # low-confidence LoRA
    order = [m["fit"] for m in body["matches"]]
    assert order == sorted(order, key=["yes", "likely", "unconfirmed"].index)
    excluded = {e["offering"]: e["reasons"] for e in body["excluded"]}
    retired = excluded["foundry-serverless-finetuning"][0]
    assert (retired["code"], retired["date"]) == ("model_retired", "2025-08-30")
    assert excluded["onnxruntime-training"][0]["code"] == "technique_not_offered"
    assert set(fits) | set(excluded) == {
        o["id"] for o in client.get("/v1/offerings").json()["items"]
    }


def test_where_resolves_hf_ids_and_says_model_not_supported(client: TestClient) -> None:
    r = client.get("/v1/where", params={"model": "microsoft/Phi-3-small-8k-instruct"})
    body = r.json()
    assert body["model"] == "phi-3-small-8k-instruct"
    codes = {e["offering"]: e["reasons"][0]["code"] for e in body["excluded"]}
    assert codes["kaito-tuning"] == "model_not_supported"
    assert codes["foundry-serverless-finetuning"] == "model_not_supported"


def test_where_unknown_model_or_technique_is_a_404_with_hints(client: TestClient) -> None:
    r = client.get("/v1/where", params={"model": "phi-4-mini-instrct"})
    assert r.status_code == 404
    assert r.json()["did_you_mean"] == "phi-4-mini-instruct"
    assert "phi-4" in r.json()["allowed"]
    r = client.get("/v1/where", params={"model": "phi-4", "technique": "loraa"})
    assert r.status_code == 404
    assert r.json()["did_you_mean"] == "lora"
    assert client.get("/v1/where").status_code == 422


def test_seed_revision_holds_the_page_claims_and_the_next_judges_them(client: TestClient) -> None:
    fpga_then = client.get("/v1/hardware/fpga", params={"at": SEED_REVISION}).json()["hardware"]
    assert [st["status"] for st in fpga_then["statements"]] == ["claimed"]
    assert "CPU and FPGA, which are essential" in fpga_then["statements"][0]["text"]
    assert fpga_then["statements"][0]["confidence"] is None
    fpga_now = client.get("/v1/hardware/fpga").json()["hardware"]
    verdict = fpga_now["statements"][0]
    assert verdict["status"] == "contradicted"
    assert verdict["contradicted_by"]
    serverless = client.get("/v1/offerings/foundry-serverless-finetuning").json()["offering"]
    small = [st for st in serverless["statements"] if "Phi-3-small" in st["text"]]
    assert small[0]["status"] == "contradicted"
    assert any("region-availability" in src for src in small[0]["contradicted_by"])
    then = client.get("/v1/offerings/foundry-serverless-finetuning", params={"at": 5}).json()
    assert then["revision"] == SEED_REVISION
    assert then["offering"]["name"] == "Model as Service"
    assert then["offering"]["platform"] is None
    tools = client.get("/v1/platforms/onnx-runtime", params={"at": 5}).json()["platform"]
    assert any(st["text"].endswith("ONNX Runtime and ONNX Runtime.") for st in tools["statements"])


def test_platform_aliases_resolve_with_names_over_time(client: TestClient) -> None:
    for name in ("Azure AI Studio", "azure ai foundry", "microsoft-foundry"):
        r = client.get(f"/v1/platforms/{name}")
        assert r.status_code == 200
        assert r.json()["platform"]["id"] == "microsoft-foundry"
    platform = client.get("/v1/platforms/microsoft-foundry").json()["platform"]
    assert [n["name"] for n in platform["names"]][:2] == ["Azure AI Studio", "Azure AI Foundry"]
    assert platform["names"][0]["until"] == "2024-11"
    assert "foundry-serverless-finetuning" in platform["offerings"]
    old = client.get("/v1/platforms/microsoft-foundry", params={"at": 5}).json()["platform"]
    assert old["name"] == "Azure AI Foundry"
    assert old["aliases"] == []
    assert client.get("/v1/platforms/Windows AI Studio").json()["platform"]["id"] == (
        "ai-toolkit-vscode"
    )


def test_models_carry_lifecycle_and_cited_shapes_only(client: TestClient) -> None:
    items = {m["id"]: m for m in client.get("/v1/models").json()["items"]}
    mini = items["phi-3-mini-4k-instruct"]
    assert mini["lifecycle"]["status"] == "retired"
    assert mini["lifecycle"]["retired_on"] == "2025-08-30"
    assert mini["architecture"]["confidence"] == "medium"  # Microsoft's copy of the config
    assert items["phi-4"]["architecture"]["layers"] == 40
    for m in items.values():
        if m["architecture"] is not None:
            assert m["architecture"]["sources"], m["id"]
    assert items["phi-4-multimodal-instruct"]["architecture"] is None
    # A Hugging Face repo id holds a slash: it resolves where it is a query value.
    where = client.get("/v1/where", params={"model": "microsoft/phi-4", "technique": "lora"})
    assert where.json()["model"] == "phi-4"
    assert client.get("/v1/models/Phi-4").json()["model"]["id"] == "phi-4"
    # The page's family names exist only in the seed revision.
    assert client.get("/v1/models/phi-3-mini").status_code == 404
    assert client.get("/v1/models/phi-3-mini", params={"at": 5}).status_code == 200


def test_hardware_memory_and_unknowns_stay_null(client: TestClient) -> None:
    items = {h["id"]: h for h in client.get("/v1/hardware").json()["items"]}
    assert set(items) >= {"a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb", "l4-24gb",
                          "a10-24gb", "v100-32gb", "t4-16gb", "rtx-4090-24gb", "mi300x-192gb",
                          "cpu", "fpga"}  # fmt: skip
    assert items["h100-80gb"]["memory_bytes"] == 80 * 10**9
    assert items["a10-24gb"]["memory_bytes"] == 24 * 10**9  # revision 8, low confidence
    assert items["a10-24gb"]["confidence"] == "low"
    assert client.get("/v1/hardware/nope").json()["allowed"][0] == "a10-24gb"  # id order


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"model": "phi-4"}, {"foundry-serverless-finetuning", "kaito-tuning",
                              "azureml-finetune-pipeline", "olive-finetune",
                              "foundry-managed-compute-finetuning", "onnxruntime-training"}),
        ({"technique": "qlora"}, {"kaito-tuning", "ai-toolkit-finetuning", "olive-finetune"}),
        ({"mode": "kubernetes"}, {"kaito-tuning"}),
        ({"mode": "maap"}, {"foundry-managed-compute-finetuning", "azureml-finetune-pipeline",
                            "ai-toolkit-finetuning", "olive-finetune", "onnxruntime-training"}),
        ({"hardware": "a100-80gb"}, {"foundry-managed-compute-finetuning", "kaito-tuning",
                                     "ai-toolkit-finetuning"}),
        ({"hardware": "t4-16gb"}, {"azureml-finetune-pipeline"}),
        ({"status": "deprecated"}, {"onnxruntime-training"}),
        ({"model": "phi-3-small-8k-instruct"}, {"azureml-finetune-pipeline", "olive-finetune",
                                                "foundry-managed-compute-finetuning",
                                                "onnxruntime-training"}),
    ],
)  # fmt: skip
def test_offering_filters(client: TestClient, query: dict[str, str], expected: set[str]) -> None:
    r = client.get("/v1/offerings", params=query)
    assert r.status_code == 200
    assert {o["id"] for o in r.json()["items"]} == expected


@pytest.mark.parametrize(
    ("query", "status"),
    [({"model": "nope"}, 404), ({"technique": "nope"}, 404), ({"hardware": "nope"}, 404),
     ({"mode": "cloud"}, 422), ({"status": "gone"}, 422), ({"format": "xml"}, 422)],
)  # fmt: skip
def test_offering_filter_errors(client: TestClient, query: dict[str, str], status: int) -> None:
    r = client.get("/v1/offerings", params=query)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["allowed"]


@pytest.mark.parametrize("path", ["/v1/models", "/v1/hardware", "/v1/platforms", "/v1/offerings"])
def test_lists_in_every_format(client: TestClient, path: str) -> None:
    as_json = client.get(path)
    assert as_json.headers["etag"] == f'"rev-{CURRENT}"'
    ids = [item["id"] for item in as_json.json()["items"]]
    rows = list(csv.DictReader(io.StringIO(client.get(path, params={"format": "csv"}).text)))
    assert [row["id"] for row in rows] == ids
    md = client.get(path, headers={"Accept": "text/markdown"})
    assert md.headers["content-type"].startswith("text/markdown")
    assert len(md.text.splitlines()) == len(ids) + 2
    assert client.get(path, headers={"Accept": "image/png"}).status_code == 406
    old = client.get(path, params={"at": SEED_REVISION, "format": "csv"})
    assert old.headers["etag"] == f'"rev-{SEED_REVISION}-csv"'


def test_each_item_route_and_the_unknown_revision(client: TestClient) -> None:
    routes = (
        ("/v1/models/phi-4", "model"),
        ("/v1/hardware/cpu", "hardware"),
        ("/v1/platforms/kaito", "platform"),
        ("/v1/offerings/kaito-tuning", "offering"),
    )
    for path, key in routes:
        r = client.get(path)
        assert r.status_code == 200
        assert r.json()["revision"] == CURRENT
        assert r.json()[key]["since_revision"] >= SOURCED_REVISION
        assert client.get(path + "-x").status_code == 404
    assert client.get("/v1/models", params={"at": 999}).status_code == 404
    assert client.get("/v1/offerings", params={"at": 4}).json()["total"] == 0
