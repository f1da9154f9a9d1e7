"""POST /v1/estimates over HTTP, on the migrated data: shapes from the models data, the fit per
hardware, every profile with its unit, the SVG, and 422s that say what is allowed."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.estimates import (
    Activations,
    EstimateInput,
    Model,
    ModelShape,
    Numerics,
    Parallelism,
    Profile,
    estimate,
)
from service.web.routing import READ_ONLY_POSTS

SVG_NS = "{http://www.w3.org/2000/svg}"
# Meta-Llama-3-8B-Instruct as the models data records it (catalog id meta-llama-3-8b-instruct).
LLAMA3_8B = ModelShape(
    layers=32, hidden=4096, heads=32, vocab=128256, kv_heads=8, intermediate=14336
)
BATCH = {"seq_len": 2048, "micro_batch": 1, "gradient_checkpointing": True}


def post(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/estimates", json=body)


def test_a_catalog_model_takes_its_shape_from_the_models_data(client: TestClient) -> None:
    r = post(
        client,
        model="meta-llama/Meta-Llama-3-8B-Instruct",
        parallelism={"gpus": 8, "zero_stage": 3},
        activations=BATCH,
        hardware=["h100-80gb", "a100-40gb", "a10-24gb"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    expected = estimate(
        EstimateInput(
            model=Model(shape=LLAMA3_8B),
            parallelism=Parallelism(gpus=8, zero_stage=3),
            activations=Activations(**BATCH),  # type: ignore[arg-type]
        )
    )
    assert body["model"] == "meta-llama-3-8b-instruct"
    assert body["per_gpu"]["total"] == expected.per_gpu.total
    assert body["params"]["total"] == expected.params == body["params"]["trainable"]
    per_gpu = body["per_gpu"]
    parts = ("weights", "gradients", "optimizer_states", "activations", "quantization", "other")
    assert sum(per_gpu[k] for k in parts) == per_gpu["total"]
    assert per_gpu["model_states"] == sum(
        per_gpu[k] for k in ("weights", "gradients", "optimizer_states")
    )
    assert body["unit"] == {"symbol": "GiB", "bytes": 2**30, "label": "GiB"}
    fits = {f["hardware"]: f for f in body["fits"]}
    assert fits["h100-80gb"] == {
        "hardware": "h100-80gb",
        "memory_bytes": 80 * 10**9,
        "fits": True,
        "headroom_bytes": 80 * 10**9 - per_gpu["total"],
    }
    # The A10's 24 GB (revision 8, low confidence) is judged like any other card.
    assert fits["a10-24gb"]["memory_bytes"] == 24 * 10**9
    assert fits["a10-24gb"]["fits"] is (per_gpu["total"] <= 24 * 10**9)
    # The data's own uncertainty is stated beside the estimator's assumptions: the shape of
    # Qwen2.5-0.5B is read from a third-party copy of its configuration (low confidence).
    low = post(client, model="qwen2.5-0.5b").json()["assumptions"]
    assert "catalog-data-1" in [a["topic"] for a in low]
    assert any("low confidence" in a["text"] for a in low)
    assert body["sources"]
    assert all(body["sources"])
    assert all(t["bytes"] > 0 and t["source"] for t in body["terms"])


def test_params_and_shape_instead_of_a_catalog_id(client: TestClient) -> None:
    # The ZeRO paper's 7.5B model on 64 GPUs at stage 3: 16Ψ/N_d = 1.875 GB (Table 1).
    r = post(
        client,
        params=7_500_000_000,
        profile="zero-paper",
        parallelism={"gpus": 64, "zero_stage": 3},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"]["symbol"] == "GB"
    assert body["per_gpu"]["model_states"] == 1_875_000_000


@pytest.mark.parametrize("profile", [p.value for p in Profile])
def test_every_profile_answers_with_its_unit(client: TestClient, profile: str) -> None:
    # accelerate estimate-memory counts one device without ZeRO (a 422 otherwise, below).
    sharded = {} if profile == "accelerate" else {"gpus": 2, "zero_stage": 2}
    r = post(client, model="qwen2.5-0.5b", profile=profile, parallelism=sharded)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"] == profile
    assert body["unit"]["bytes"] in (10**9, 2**30)
    assert body["per_gpu"]["total"] > 0


def test_a_model_without_a_shape_is_a_422_that_says_what_to_give(client: TestClient) -> None:
    r = post(client, model="phi-4-multimodal-instruct")
    assert r.status_code == 422
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "no architecture shape" in problem["detail"]
    assert "params and shape" in problem["detail"]
    assert problem["errors"][0]["location"] == "body.model"


def test_unknown_model_and_hardware_are_422_with_what_is_allowed(client: TestClient) -> None:
    r = post(client, model="llama-3-8b-instrukt")
    assert r.status_code == 422
    assert "meta-llama-3-8b-instruct" in r.json()["allowed"]
    r = post(client, model="qwen2.5-0.5b", hardware=["h100"])
    assert r.status_code == 422
    problem = r.json()
    assert problem["did_you_mean"] == "h100-80gb"
    assert problem["errors"][0]["location"] == "body.hardware.0"


@pytest.mark.parametrize(
    ("parallelism", "field"),
    [
        ({"gpus": 1, "zero_stage": 1, "offload": {"params": "cpu"}}, "parallelism.offload.params"),
        ({"zero_stage": 2, "fsdp": "FULL_SHARD"}, "parallelism"),
    ],
)
def test_estimate_errors_name_the_field(
    client: TestClient, parallelism: dict[str, Any], field: str
) -> None:
    r = post(client, model="qwen2.5-0.5b", parallelism=parallelism)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["location"].startswith(f"body.{field}")
    assert problem["detail"]


def test_lora_under_the_deepspeed_profile_is_refused_with_the_allowed_values(
    client: TestClient,
) -> None:
    r = post(client, model="qwen2.5-0.5b", profile="deepspeed", technique={"method": "lora"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "body.technique.method"


def test_schema_errors_are_422_listing_the_accepted_spellings(client: TestClient) -> None:
    r = post(client, model="qwen2.5-0.5b", numerics={"optimizer": "lion"})
    assert r.status_code == 422
    assert "adamw" in r.text
    assert post(client).status_code == 422  # neither model nor params nor shape
    assert post(client, model="phi-4", params=10).status_code == 422


def test_qlora_counts_fewer_bytes_than_lora_and_full(client: TestClient) -> None:
    totals = {}
    for method in ("full", "lora", "qlora"):
        r = post(client, model="phi-4", technique={"method": method}, activations=BATCH)
        totals[method] = r.json()["per_gpu"]["total"]
    assert totals["qlora"] < totals["lora"] < totals["full"]
    qlora = post(client, model="phi-4", technique={"method": "qlora"}).json()
    assert qlora["per_gpu"]["quantization"] > 0
    assert 0 < qlora["params"]["trainable_share"] < 0.01


def test_the_svg_parses_and_shows_each_gpu_memory(client: TestClient, tmp_path: Path) -> None:
    r = post(
        client,
        model="phi-4",
        activations=BATCH,
        numerics={"precision": "bf16-mixed"},
        hardware=["h100-80gb", "a100-40gb"],
        format="svg",
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)  # noqa: S314  (our own output, not untrusted XML)
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}script") is None
    texts = [t.text or "" for t in root.iter(f"{SVG_NS}text")]
    assert "h100-80gb" in texts
    assert "a100-40gb" in texts
    assert "phi-4" in texts
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # parsed only: no browser on this machine
    page = tmp_path / "estimate.svg"
    page.write_text(r.text, encoding="utf-8")
    shot = tmp_path / "estimate.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=800,420", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5000  # more than a blank page


def test_estimates_are_read_only_posts_answered_by_the_fast_path(client: TestClient) -> None:
    assert "/v1/estimates" in READ_ONLY_POSTS
    body = {"model": "qwen2.5-0.5b", "numerics": {"precision": "bf16"}}
    first, second = post(client, **body), post(client, **body)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    svg = post(client, **body, format="svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")  # not the cached JSON


def test_pure_bf16_counts_no_master_copy(client: TestClient) -> None:
    mixed = post(client, model="qwen2.5-0.5b").json()["per_gpu"]
    pure = post(client, model="qwen2.5-0.5b", numerics={"precision": "bf16"}).json()["per_gpu"]
    assert pure["optimizer_states"] < mixed["optimizer_states"]
    expected = estimate(
        EstimateInput(
            model=Model(
                shape=ModelShape(
                    layers=24,
                    hidden=896,
                    heads=14,
                    vocab=151936,
                    kv_heads=2,
                    intermediate=4864,
                    tied_embeddings=True,
                )
            ),
            numerics=Numerics(precision="bf16"),  # type: ignore[arg-type]
        )
    )
    assert pure["total"] == expected.per_gpu.total
