"""The pages over HTTP (no browser): status, headers, ETags, errors as HTML, the size budget,
paging, and the check form judged against `ftmatrix check` on the whole corpus."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.compat.gate import CheckOptions, run_check
from service.detect import KINDS
from service.pages import checks, render, views
from service.vocabulary import SUPPORT_LEVELS, VERDICTS
from tests.pages.conftest import CORPUS
from tests.published import CORRECTIONS

PAGES = [
    "/",
    "/?at=1",
    "/?cell=reduce-memory/lora",
    "/?kind=goal&support=no&technique=peft",
    "/cells/reduce-memory/qlora",
    "/diff?from=1&to=2",
    "/diff",
    "/techniques",
    "/techniques/qlora",
    "/techniques/zero-3?at=3",
    "/pairs",
    "/pairs?a=qlora&b=fsdp",
    "/pairs/lora/zero-3",
    "/check",
    "/check?technique=qlora&technique=zero-3&pins=peft%3D%3D0.4.0",
    "/where",
    "/where?model=phi-3-mini-4k-instruct&technique=lora",
    "/where?model=phi-4&technique=lora&technique=qlora&at=6",
    "/models",
    "/models?at=1",
    "/estimate",
    "/estimate?model=phi-3-mini-4k-instruct&technique=qlora&gpus=1&micro_batch=1&seq_len=2048"
    "&gradient_checkpointing=true&hardware=t4-16gb&hardware=a10-24gb&hardware=h100-80gb",
    "/estimate?model=llama-2-70b&technique=full&gpus=64&zero_stage=3&offload_optimizer=cpu"
    "&offload_params=cpu&profile=deepspeed&hardware=a100-80gb",
]
BUDGET = 150 * 1024


def test_every_icon_and_word_covers_the_vocabulary() -> None:
    assert set(render.SUPPORT_ICONS) == set(render.SUPPORT_TEXT) == set(SUPPORT_LEVELS)
    assert set(render.VERDICT_ICONS) == set(render.VERDICT_TEXT) == set(VERDICTS)
    assert len(set(render.SUPPORT_ICONS.values())) == len(SUPPORT_LEVELS)  # shapes differ
    assert set(checks.NAMES) == set(KINDS)


@pytest.mark.parametrize("url", PAGES)
def test_pages_are_html_with_their_own_csp_and_fit_the_budget(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["etag"].startswith('"page-rev-')
    assert response.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:href|src)="(/static/pages/[^"]+)"', response.text)
    assert sorted(a.split("?")[0] for a in assets) == [
        "/static/pages/pages.css",
        "/static/pages/pages.js",
    ]
    total = len(response.content) + sum(len(client.get(a).content) for a in assets)
    assert total <= BUDGET, f"{url}: {total} bytes on first load"
    assert "//cdn" not in response.text
    assert "https://fonts" not in response.text


def test_a_page_answers_if_none_match_with_304(client: TestClient) -> None:
    first = client.get("/techniques/qlora")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"page-rev-\d+-[0-9a-f]{16}"', etag)
    again = client.get("/techniques/qlora", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/techniques/qlora?at=1").headers["etag"] != etag
    assert client.get("/techniques/lora").headers["etag"] != etag
    assert client.get("/techniques/qlora", headers={"If-None-Match": '"rev-1"'}).status_code == 200


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/?at=999999", 404, "Revision 999999 does not exist"),
        ("/?at=zero", 400, "at=&#39;zero&#39; is not a number"),
        ("/?page=0", 400, "page=&#39;0&#39; is not a number"),
        ("/?kind=chore", 400, "kind=&#39;chore&#39; is not one of task, goal"),
        ("/?support=maybe", 400, "support=&#39;maybe&#39;"),
        ("/?technique=qlorra", 404, "Did you mean <strong>qlora</strong>"),
        ("/?cell=reduce-memory", 400, "should be scenario/technique"),
        ("/cells/reduce-memory/nope", 404, "No technique with id or alias"),
        ("/techniques/qlorra", 404, "Did you mean <strong>qlora</strong>"),
        ("/pairs?a=qlora", 400, "Give both a and b"),
        ("/pairs/qlora/qlora", 400, "paired with itself"),
        ("/diff?from=2&to=1", 400, "must be older than"),
        ("/diff?from=1&to=999999", 404, "does not exist"),
    ],
)
def test_bad_input_gets_an_html_page_with_the_message(
    client: TestClient, url: str, status: int, says: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text
    assert "Traceback" not in response.text


def test_pages_are_not_part_of_the_api_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert all(path.startswith("/v1/") or path in ("/healthz", "/readyz", "/metrics")
               for path in paths), sorted(paths)  # fmt: skip


def test_revision_1_is_the_seed_with_its_dora_spelling(client: TestClient) -> None:
    seed = client.get("/?at=1").text
    newest = client.get("/").text
    assert ">DORA</a>" in seed
    assert ">DoRA</a>" not in seed
    assert ">DoRA</a>" in newest
    assert "You are reading revision 1" in seed


def test_the_diff_highlights_exactly_the_corrections(client: TestClient) -> None:
    text = client.get("/diff?from=1&to=2").text
    changed = re.findall(
        r'<td class="c-(\w+) changed"><a class="cell" href="[^"]*cell=([^&"#]+)', text
    )
    got = {tuple(cell.replace("%2F", "/").split("/")): level for level, cell in changed}
    assert got == {key: after for key, (_, after) in CORRECTIONS.items()}


def test_the_matrix_pages_through_scenarios_and_techniques(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_ROWS", 4)
    monkeypatch.setattr(views, "PAGE_COLUMNS", 5)
    first = client.get("/").text
    assert first.count('<tr>\n      <th scope="row">') == 4
    assert "Scenario page 1 of 3" in first
    assert "Technique page 1 of 3" in first
    last = client.get("/?page=3&cols=3").text
    assert "scenarios 9\u20139, techniques 11\u201313" in last
    assert 'data-cell="data-parallel-memory/fsdp"' in last
    assert 'data-cell="domain-adaptation/lora"' not in last
    assert "Next scenarios" not in last
    assert "Previous scenarios" in last
    beyond = client.get("/?page=99").text  # past the end: the last page
    assert "Scenario page 3 of 3" in beyond


def _rows(database_url: str, table: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_a_pasted_check_stores_nothing(client: TestClient, database_url: str) -> None:
    before = {
        t: _rows(database_url, t)
        for t in ("revision", "audit_entry", "cell_version", "entity_version")
    }
    response = client.post(
        "/check",
        data={"text": "adapter: qlora\nload_in_4bit: true\n", "name": "job.yml",
              "scenario": "data-parallel-memory"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "FTM201" in response.text
    assert 'id="L1" class="hit sev-error"' in response.text
    assert response.headers["cache-control"] == "no-store"
    assert {t: _rows(database_url, t) for t in before} == before


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"text": "", "name": "a.yml"}, "a.yml: the pasted text is empty"),
        ({"text": "adapter: [\n", "name": "a.yml"}, "a.yml:"),
        ({"text": "services:\n  web: {}\n", "name": "compose.yml"}, "Skipped compose.yml"),
        (
            {"text": "peft==not.a.version\n", "name": "requirements.txt"},
            "requirements.txt:1: invalid requirement",
        ),
        ({"text": "adapter: lora\n", "name": "a.yml", "kind": "nope"}, "unknown kind"),
        ({"text": "adapter: lora\n", "name": "a.yml", "scenario": "memroy"}, "unknown scenario"),
    ],
)
def test_a_bad_paste_gets_the_cli_message(
    client: TestClient, form: dict[str, str], says: str
) -> None:
    response = client.post("/check", data=form)
    assert response.status_code == 200
    assert says in html.unescape(response.text)


def test_a_paste_must_be_the_form(client: TestClient) -> None:
    response = client.post("/check", json={"text": "adapter: lora"})
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("text/html")


def test_a_picked_check_reads_like_the_api(client: TestClient) -> None:
    query = "technique=qlora&technique=fsdp&pins=peft%3D%3D0.4.0%0Abitsandbytes%3D%3D0.39.0"
    page = client.get(f"/check?{query}").text
    api = client.post(
        "/v1/checks",
        json={"techniques": ["qlora", "fsdp"], "libraries": {"peft": "0.4.0",
              "bitsandbytes": "0.39.0"}},
    ).json()  # fmt: skip
    shown = re.findall(r'class="rule" rel="[^"]*">(FTM\d+)</a>', page)
    assert Counter(shown) == Counter(f["rule"] for f in api["findings"])
    assert f"verdict-{api['verdict']}" in page
    bad = html.unescape(client.get("/check?technique=qlora&pins=peft%3E%3D1").text)
    assert "pins line 1: 'peft>=1' is not a pin; write name==version" in bad
    unknown = html.unescape(client.get("/check?technique=qlorra").text)
    assert "unknown technique 'qlorra'; did you mean 'qlora'?" in unknown
    version = html.unescape(
        client.get("/check?technique=qlora&technique=fsdp&pins=peft%3D%3Dbanana").text
    )
    assert "'banana' is not a valid version of peft (PEP 440)" in version


def _corpus() -> list[dict[str, Any]]:
    manifest = CORPUS / "MANIFEST.json"
    if not manifest.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(manifest.read_text(encoding="utf-8"))
    return entries


@pytest.mark.skipif(not _corpus(), reason="the corpus is not next to the checkout")
def test_the_paste_check_agrees_with_the_cli_on_the_corpus(
    client: TestClient, tmp_path: Path
) -> None:
    """Every corpus file, pasted alone, gets the findings `ftmatrix check` reports for that
    file alone (same revision's data: the service's own export), rule by rule and line by line."""
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(client.get("/v1/export").content)
    app: Any = client.app
    snap = app.state.store.current()
    compared = 0
    for number, entry in enumerate(_corpus()):
        source = CORPUS / entry["file"]
        folder = tmp_path / str(number)
        folder.mkdir()
        alone = folder / source.name
        alone.write_bytes(source.read_bytes())
        cli = run_check(CheckOptions(files=[str(alone)], snapshot=snapshot, fmt="json",
                                     root=folder, fail_on="fail"))  # fmt: skip
        page = checks.paste_check(snap, source.read_text(encoding="utf-8"), str(alone), "", ())
        if cli.errors:
            assert page.errors, (entry["file"], cli.errors)
            continue
        report = json.loads(cli.output)
        if page.skipped is not None:
            assert not report["findings"], entry["file"]
            continue
        assert page.report is not None, (entry["file"], page.errors)
        expected = Counter(
            (f["rule"], tuple(x["line"] for x in f["locations"])) for f in report["findings"]
        )
        got = Counter((f.rule, tuple(x.line for x in f.locations)) for f in page.report.findings)
        assert got == expected, entry["file"]
        assert page.report.verdict == report["verdict"], entry["file"]
        compared += 1
    assert compared >= 150
