"""The explorer (`/where`), the models page (`/models`) and the estimator (`/estimate`) over
HTTP, without a browser: each shows what its JSON route answers for the same input, revalidates
with its ETag, reads `at=N`, and shows the API's refusal of bad input with the API's status."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.pages import estimate, where
from tests.published import CURRENT

WHERE = "/where?model=phi-3-mini-4k-instruct&technique=lora"
FIT_QUERY = (
    "model=phi-3-mini-4k-instruct&technique=qlora&lora_rank=16&gpus=1&micro_batch=1"
    "&seq_len=2048&gradient_checkpointing=true&hardware=t4-16gb&hardware=a10-24gb"
    "&hardware=h100-80gb"
)
FIT_BODY: dict[str, Any] = {
    "model": "phi-3-mini-4k-instruct",
    "technique": {"method": "qlora", "lora": {"rank": 16}},
    "parallelism": {"gpus": 1},
    "activations": {"seq_len": 2048, "micro_batch": 1, "gradient_checkpointing": True},
    "hardware": ["t4-16gb", "a10-24gb", "h100-80gb"],
}


def _text(page: str) -> str:
    """The page's text, tags removed and entities decoded, whitespace collapsed (none before
    punctuation)."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([:,.;)])", r"\1", text)


def _matches(page: str) -> list[str]:
    return re.findall(r'<li class="match">(.*?)</li>\s*</ul>\s*</li>', page, re.S)


def test_the_nav_links_both_pages(client: TestClient) -> None:
    page = client.get("/").text
    for path in ("/where", "/estimate", "/models"):
        assert f'<a href="{path}"' in page
    assert 'href="/where?at=1"' in client.get("/?at=1").text  # the nav keeps the revision


def test_where_ranks_the_apis_offerings_with_their_reasons(client: TestClient) -> None:
    api = client.get("/v1/where", params={"model": "phi-3-mini-4k-instruct", "technique": "lora"})
    answer = api.json()
    page = client.get(WHERE)
    assert page.status_code == 200
    matches = _matches(page.text)
    assert len(matches) == len(answer["matches"]) >= 3
    for shown, match in zip(matches, answer["matches"], strict=True):
        assert f"<code>{match['offering']}</code>" in shown  # the API's order, surest first
        assert f'class="fit fit-{match["fit"]}"' in shown
    kaito = next(m for m in matches if "<code>kaito-tuning</code>" in m)
    assert 'Offers lora</strong> <span class="tag conf-high">high confidence' in kaito
    assert (
        'href="https://github.com/kaito-project/kaito/blob/056b8280b1a8debf644bc6f4399e913a1f9c7e70'
        '/api/v1beta1/workspace_types.go"' in kaito
    )
    text = _text(page.text)
    for excluded in answer["excluded"]:
        for reason in excluded["reasons"]:
            assert reason["message"] in text
    # Serverless Foundry fine-tuned the model until the catalog retired it.
    assert "Model retired there (2025-08-30): phi-3-mini-4k-instruct can no longer" in text
    assert "Technique not offered: onnxruntime-training does not offer lora." in text


def test_low_confidence_is_never_shown_as_certain(client: TestClient) -> None:
    for match in _matches(client.get(WHERE).text):
        fit = re.search(r'class="fit fit-(\w+)"', match)
        assert fit is not None
        levels = re.findall(r'class="tag conf-(\w+)">([^<]+)<', match)
        assert levels
        for level, words in levels:
            assert words == where.CONFIDENCE_TEXT[None if level == "none" else level]
            if level in ("low", "none"):
                assert "unconfirmed" in words
        if any(level in ("low", "none") for level, _ in levels):
            assert fit.group(1) == "unconfirmed"
        else:
            assert fit.group(1) != "unconfirmed"
    # The managed-compute page does not state LoRA: low confidence, so the fit is unconfirmed.
    managed = next(m for m in _matches(client.get(WHERE).text) if "foundry-managed-compute" in m)
    assert 'Offers lora</strong> <span class="tag conf-low">low confidence: unconfirmed' in managed


def test_where_reads_a_past_revision_and_names_unknown_models(client: TestClient) -> None:
    then = client.get("/where?model=phi-4&technique=lora&at=6")
    assert then.status_code == 200
    assert "You are reading revision 6" in then.text
    api = client.get("/v1/where", params={"model": "phi-4", "technique": "lora", "at": 6}).json()
    assert [re.search(r"<code>([^<]+)</code>", m).group(1) for m in _matches(then.text)] == [  # type: ignore[union-attr]
        m["offering"] for m in api["matches"]
    ]
    assert "No models are recorded at revision 1." in client.get("/where?at=1").text
    unknown = client.get("/where?model=phi-4-mini-instrct")
    assert unknown.status_code == 404
    assert "No model with id or alias &#39;phi-4-mini-instrct&#39;." in unknown.text
    assert "Did you mean <strong>phi-4-mini-instruct</strong>?" in unknown.text
    assert '<form class="job-form"' in unknown.text  # the form stays, to fix the input
    assert unknown.headers["cache-control"] == "no-store"


SHAPE_FIELDS = {
    "layers": "Layers", "hidden": "Hidden", "heads": "Heads", "kv_heads": "KV heads",
    "intermediate": "MLP width", "vocab": "Vocabulary", "context": "Context",
    "tied_embeddings": "Tied embeddings",
}  # fmt: skip
UNKNOWN = '<span class="unknown">unknown</span>'


def _shown(value: object) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,}" if isinstance(value, int) else str(value)


def test_the_models_page_shows_unknown_shapes_as_unknown(client: TestClient) -> None:
    page = client.get("/models").text
    rows = dict(re.findall(r'<tr id="model-([^"]+)">(.*?)</tr>', page, re.S))
    models = client.get("/v1/models").json()["items"]
    assert list(rows) == [m["id"] for m in models]
    unknown_fields = 0
    for model in models:
        row, arch = rows[model["id"]], model["architecture"]
        life = model["lifecycle"]
        assert f"<td>{life['status']}" in row
        if life["retired_on"]:
            assert f'retired on <time datetime="{life["retired_on"]}">' in row
        if arch is None:
            assert "Shape unknown" in row
            assert "<dl" not in row  # never a number for a shape the data does not give
            continue
        for key, label in SHAPE_FIELDS.items():
            assert f"<dt>{label}</dt><dd>{_shown(arch[key])}</dd>" in row, (model["id"], key)
            unknown_fields += arch[key] is None
        words = where.CONFIDENCE_TEXT[arch["confidence"]]
        assert f'<span class="tag conf-{arch["confidence"]}">{words}</span>' in row
    assert any(m["architecture"] is None for m in models)
    assert unknown_fields  # some recorded shapes leave a field out: it reads unknown
    hardware = dict(re.findall(r'<tr id="hardware-([^"]+)">(.*?)</tr>', page, re.S))
    for item in client.get("/v1/hardware").json()["items"]:
        assert f"<td>{_shown(item['memory_bytes'])}</td>" in hardware[item["id"]]


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def _rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td data-bytes="(\d+)">', page)]


def test_an_estimate_shows_the_apis_numbers_and_picture(client: TestClient) -> None:
    api = client.post("/v1/estimates", json=FIT_BODY).json()
    page = client.get(f"/estimate?{FIT_QUERY}")
    assert page.status_code == 200
    gpu = api["per_gpu"]
    keys = [key for key, _ in estimate.COMPONENTS] + ["model_states", "total"]
    assert _rows(page.text) == [gpu[key] for key in keys]
    row = (
        r'<tr data-hardware="([^"]+)" data-fits="(\w+)" data-memory="(\d*)" data-headroom="(-?\d*)"'
    )
    fits = re.findall(row, page.text)
    expected = [
        (f["hardware"], "unknown" if f["fits"] is None else str(f["fits"]).lower(),
         _blank(f["memory_bytes"]), _blank(f["headroom_bytes"]))
        for f in api["fits"]
    ]  # fmt: skip
    assert fits == expected
    text = _text(page.text)
    for f in api["fits"]:
        if f["headroom_bytes"] is not None:
            human = (
                f"{abs(f['headroom_bytes']) / 2**30:,.2f} GiB {abs(f['headroom_bytes']):,} bytes"
            )
            assert (f"{human} left" if f["headroom_bytes"] >= 0 else f"short by {human}") in text
    assert f"{gpu['total']:,}" in text  # the exact bytes beside the unit
    for note in api["assumptions"]:
        assert note["text"] in text
    too_big = _text(client.get("/estimate?model=llama-2-70b&hardware=h200-141gb").text)
    assert "Does not fit" in too_big
    assert "short by" in too_big
    svg = client.post("/v1/estimates", json={**FIT_BODY, "format": "svg"}).text
    inline = re.search(r"<svg .*?</svg>", page.text, re.S)
    assert inline is not None
    assert inline.group(0) == svg.strip()
    assert "<script" not in inline.group(0)


def test_the_deepspeed_profile_says_its_gb_are_gib(client: TestClient) -> None:
    query = "model=qwen2.5-0.5b&gpus=2&zero_stage=2&profile=deepspeed&hardware=t4-16gb"
    body = {"model": "qwen2.5-0.5b", "parallelism": {"gpus": 2, "zero_stage": 2},
            "profile": "deepspeed", "hardware": ["t4-16gb"]}  # fmt: skip
    api = client.post("/v1/estimates", json=body).json()
    page = client.get(f"/estimate?{query}").text
    assert api["unit"] == {"symbol": "GiB", "bytes": 2**30, "label": "GB"}
    assert "this profile's source prints them as “GB”" in _text(page)
    assert _rows(page)[-1] == api["per_gpu"]["total"]


def test_an_estimate_page_revalidates_and_reads_at(client: TestClient) -> None:
    first = client.get(f"/estimate?{FIT_QUERY}")
    etag = first.headers["etag"]
    again = client.get(f"/estimate?{FIT_QUERY}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    where_page = client.get(WHERE)
    assert (
        client.get(WHERE, headers={"If-None-Match": where_page.headers["etag"]}).status_code == 304
    )
    past = client.get(f"/estimate?{FIT_QUERY}&at={CURRENT - 1}")
    assert past.headers["etag"] != etag
    assert f"You are reading revision {CURRENT - 1}" in past.text
    early = client.get(f"/estimate?{FIT_QUERY}&at=1")  # before the models data was recorded
    assert early.status_code == 422
    assert "No model with id or alias &#39;phi-3-mini-4k-instruct&#39;." in early.text


BAD = [
    ("model=nope", {"model": "nope"}),
    ("model=phi-4&gpus=0&zero_stage=3", {"model": "phi-4",
                                         "parallelism": {"gpus": 0, "zero_stage": 3}}),
    ("model=phi-4&zero_stage=1&offload_params=cpu",
     {"model": "phi-4", "parallelism": {"zero_stage": 1, "offload": {"params": "cpu"}}}),
    ("model=phi-4&technique=full&lora_rank=16",
     {"model": "phi-4", "technique": {"method": "full", "lora": {"rank": 16}}}),
    ("model=phi-4&technique=lora&quant_bits=3",
     {"model": "phi-4", "technique": {"method": "lora", "quantization": {"bits": 3}}}),
    ("model=phi-4&micro_batch=2", {"model": "phi-4", "activations": {"micro_batch": 2}}),
    ("model=phi-4&gpus=two", {"model": "phi-4", "parallelism": {"gpus": "two"}}),
    ("model=phi-4&hardware=h100", {"model": "phi-4", "hardware": ["h100"]}),
]  # fmt: skip


def _count(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("revision", "entity_version", "cell_version")
            }
    finally:
        engine.dispose()


def _refused_alike(client: TestClient, database_url: str, query: str, body: dict[str, Any]) -> None:
    before = _count(database_url)
    api = client.post("/v1/estimates", json=body)
    assert api.status_code == 422
    problem = api.json()
    page = client.get(f"/estimate?{query}")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "etag" not in page.headers
    text = _text(page.text)
    assert problem["detail"] in text
    for error in problem["errors"]:
        assert f"{error['location']}: {error['message']}" in text
    assert "Traceback" not in page.text
    assert 'id="result"' not in page.text
    assert 'role="alert"' in page.text
    assert _count(database_url) == before


@pytest.mark.parametrize(("query", "body"), BAD, ids=[q for q, _ in BAD])
def test_bad_input_shows_the_apis_message_with_422(
    client: TestClient, database_url: str, query: str, body: dict[str, Any]
) -> None:
    _refused_alike(client, database_url, query, body)


def test_a_model_without_a_shape_is_refused_as_the_api_refuses_it(
    client: TestClient, database_url: str
) -> None:
    models = client.get("/v1/models").json()["items"]
    shapeless = next(m["id"] for m in models if m["architecture"] is None)
    _refused_alike(client, database_url, f"model={shapeless}", {"model": shapeless})
    assert "no architecture shape" in client.get(f"/estimate?model={shapeless}").text
    option = re.search(rf'<option value="{re.escape(shapeless)}">([^<]+)</option>',
                       client.get("/estimate").text)  # fmt: skip
    assert option is not None
    assert option.group(1).endswith("(shape unknown)")


def test_the_form_becomes_the_apis_body() -> None:
    form = estimate.read_form([tuple(p.split("=")) for p in FIT_QUERY.split("&")])  # type: ignore[misc]
    assert estimate.form_body(form) == FIT_BODY
    empty = estimate.read_form([("model", "phi-4"), ("gpus", ""), ("technique", "lora")])
    assert estimate.form_body(empty) == {"model": "phi-4", "technique": {"method": "lora"}}
    assert not estimate.read_form([("gpus", "2")]).asked


@pytest.mark.parametrize(
    ("source", "href", "note"),
    [
        ("https://example.org/a (archived copy)", "https://example.org/a", "(archived copy)"),
        (
            "owner/repo:docs/a.md@0123abc",
            "https://github.com/owner/repo/blob/0123abc/docs/a.md",
            "",
        ),
        ("owner/repo tag v0.3.0", None, ""),
        ("pip index versions onnxruntime (run 2026-12-01)", None, ""),
    ],
)
def test_sources_become_links_only_where_they_name_one(
    source: str, href: str | None, note: str
) -> None:
    cited = where.cite(source)
    assert (cited.href, cited.note) == (href, note)
