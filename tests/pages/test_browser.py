"""The pages in a real browser: every page loads, cells open, the grid moves by keyboard, time
travel and diffs show the seed and its corrections, a check runs from the form, and axe-core
finds no serious or critical violation. Screenshots of each page at desktop and phone widths
are written to the artifacts folder."""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

import pytest

from tests.conftest import LiveServer
from tests.pages.conftest import CORPUS, DESKTOP, PHONE, artifacts_dir, axe_violations
from tests.published import CORRECTIONS, table_rows

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

PAGES = {
    "matrix": "/",
    "matrix-rev1": "/?at=1",
    "matrix-cell": "/?cell=reduce-memory/lora",
    "cell": "/cells/reduce-memory/qlora",
    "diff": "/diff?from=1&to=2",
    "techniques": "/techniques",
    "technique": "/techniques/qlora",
    "pairs": "/pairs",
    "pairs-open": "/pairs?a=qlora&b=fsdp",
    "pair": "/pairs/qlora/zero-3",
    "check": "/check",
    "check-picked": "/check?technique=qlora&technique=zero-3&pins=peft%3D%3D0.4.0",
    "not-found": "/techniques/no-such-thing",
    "where": "/where",
    "where-answer": "/where?model=phi-3-mini-4k-instruct&technique=lora",
    "models": "/models",
    "estimate": "/estimate",
    "estimate-answer": "/estimate?model=phi-3-mini-4k-instruct&technique=qlora&gpus=1"
    "&micro_batch=1&seq_len=2048&gradient_checkpointing=true&hardware=t4-16gb&hardware=h100-80gb",
    "estimate-refused": "/estimate?model=phi-4&gpus=0&zero_stage=3",
}
STATUS = {"not-found": 404, "estimate-refused": 422}
"""Pages answered with an error status on purpose (the browser logs that status as an error)."""


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_and_passes_axe(
    browser: Browser, pages_server: LiveServer, axe_source: str, name: str
) -> None:
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("console", partial(_keep_errors, errors))
            response = page.goto(pages_server.url + PAGES[name])
            assert response is not None
            assert response.status == STATUS.get(name, 200)
            assert page.locator("h1").count() == 1
            assert page.locator("a[href='/docs']").count() >= 1
            if name not in STATUS:  # an error status is logged in the console, as it should be
                assert errors == [], errors
            page.screenshot(path=artifacts_dir() / f"{name}-desktop-{scheme}.png", full_page=True)
            assert axe_violations(page, axe_source) == [], (name, scheme)
            page.set_viewport_size(PHONE)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} scrolls sideways at phone width ({width}px)"
            page.screenshot(path=artifacts_dir() / f"{name}-phone-{scheme}.png", full_page=True)
            assert axe_violations(page, axe_source) == [], (name, scheme, "phone")
        finally:
            context.close()


def _keep_errors(errors: list[str], message: ConsoleMessage) -> None:
    if message.type == "error":
        errors.append(message.text)


def _grid_cells(page: Page) -> list[list[str]]:
    rows = page.locator("table.matrix tbody tr")
    return [
        [text.split()[-1] for text in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_opening_a_cell_shows_its_sources(page: Page, pages_server: LiveServer) -> None:
    page.goto(pages_server.url + "/")
    page.locator("a.cell[data-cell='reduce-memory/lora']").click()
    panel = page.locator("#panel")
    panel.wait_for(state="visible")
    assert "LoRA" in panel.locator("#panel-title").inner_text()
    assert panel.locator("a[href='https://arxiv.org/abs/2106.09685']").count() == 1
    assert panel.get_by_text("Revision 2").count() >= 1
    assert "cell=reduce-memory%2Flora" in page.url  # the open panel is in the URL
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.cell") == "reduce-memory/lora"


def test_the_grid_moves_with_the_keyboard(page: Page, pages_server: LiveServer) -> None:
    page.goto(pages_server.url + "/")
    tab_stops = page.locator("table.matrix a.cell[tabindex='0']")
    assert tab_stops.count() == 1  # one tab stop for the whole grid
    tab_stops.first.focus()
    first = page.evaluate("document.activeElement.dataset.cell")
    assert first == "domain-adaptation/lora"
    for key, expected in [
        ("ArrowRight", "domain-adaptation/qlora"),
        ("ArrowDown", "nlp-tasks/qlora"),
        ("ArrowLeft", "nlp-tasks/lora"),
        ("ArrowUp", "domain-adaptation/lora"),
        ("ArrowUp", "domain-adaptation/lora"),  # the edge holds
    ]:
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.dataset.cell") == expected, key
    page.keyboard.press("End")
    last = page.evaluate("document.activeElement.dataset.cell")
    assert last.startswith("domain-adaptation/")
    assert last != first
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focused cell is visibly marked
    page.keyboard.press("Enter")
    page.locator("#panel").wait_for(state="visible")
    assert "Fine-tuning for NLP tasks" in page.locator("#panel-title").inner_text()
    assert page.evaluate("document.activeElement.id") == "panel"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.cell") == "nlp-tasks/lora"


def test_time_travel_to_revision_1_shows_the_seed(page: Page, pages_server: LiveServer) -> None:
    page.goto(pages_server.url + "/")
    page.select_option("#at-picker", "1")
    page.locator("form.picker button").click()
    page.wait_for_url(re.compile(r"[?&]at=1\b"))
    header, published = table_rows()
    columns = page.locator("table.matrix thead th").all_inner_texts()[1:]
    assert columns == [h.strip() for h in header]  # DORA as the seed page spells it
    assert _grid_cells(page) == [[v.strip() for v in values] for _, values in published]
    titles = page.locator("table.matrix tbody th").all_inner_texts()
    assert [t.split(None, 1)[1] for t in titles] == [title.strip() for title, _ in published]
    assert page.get_by_role("status").filter(has_text="revision 1").count() == 1


def test_diff_of_revisions_1_and_2_shows_the_six_corrections(
    page: Page, pages_server: LiveServer
) -> None:
    page.goto(pages_server.url + "/diff")
    page.select_option("#d-from", "1")
    page.select_option("#d-to", "2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"from=1&to=2"))
    changed = page.locator("table.matrix td.changed a.cell")
    assert changed.count() == len(CORRECTIONS) == 6
    hrefs = changed.evaluate_all(
        "links => links.map(a => new URL(a.href).searchParams.get('cell'))"
    )
    assert sorted(hrefs) == sorted(f"{s}/{t}" for s, t in CORRECTIONS)
    for (scenario, technique), (before, after) in CORRECTIONS.items():
        cell = page.locator(f"td.changed a[href*='cell={scenario}%2F{technique}']")
        assert after.capitalize() in cell.inner_text()
        assert f"was {before}" in cell.inner_text()
    section = page.locator("section.revision")
    assert section.count() == 1
    text = section.inner_text()
    assert "ftmatrix seed" in text
    assert "revised table" in text
    assert "2026-11-28" in text
    assert section.locator("li.change-cell").count() == 6


def test_a_check_from_the_form_shows_its_findings(page: Page, pages_server: LiveServer) -> None:
    config = CORPUS / "axolotl" / "examples" / "archived" / "gptj" / "qlora.yml"
    if not config.is_file():
        pytest.skip(f"the corpus is not next to the checkout ({config})")
    page.goto(pages_server.url + "/check")
    page.fill("#c-text", config.read_text(encoding="utf-8"))
    page.fill("#c-name", "qlora.yml")
    # The seed marks QLoRA "No" for sharding training state across GPUs: FTM201, an error.
    page.select_option("#c-scenario", "data-parallel-memory")
    page.get_by_role("button", name="Check the config").click()
    result = page.locator("#result")
    result.wait_for()
    assert result.locator(".verdict").inner_text().lower() == "fail"
    text = config.read_text(encoding="utf-8")
    assert page.locator("table.code tbody tr").count() == len(text.splitlines())
    adapter_line = next(
        n for n, line in enumerate(text.splitlines(), 1) if line.startswith("adapter:")
    )
    row = page.locator(f"tr#L{adapter_line}")
    assert "hit" in (row.get_attribute("class") or "")
    assert "FTM201" in row.inner_text()
    assert "scenario-unsupported" in row.inner_text()


def test_a_bad_config_gets_the_cli_message(page: Page, pages_server: LiveServer) -> None:
    page.goto(pages_server.url + "/check")
    page.fill("#c-text", "adapter: qlora\nload_in_4bit: [\n")
    page.fill("#c-name", "broken.yml")
    page.get_by_role("button", name="Check the config").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert re.search(r"broken\.yml:\d+(:\d+)?: ", alert.inner_text())


def test_reading_works_without_javascript(browser: Browser, pages_server: LiveServer) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(pages_server.url + "/")
        page.locator("a.cell[data-cell='fewer-parameters/lora']").click()
        page.wait_for_url(re.compile(r"cell=fewer-parameters%2Flora"))
        panel = page.locator("#panel")
        assert panel.is_visible()
        assert panel.locator("a[href='https://arxiv.org/abs/2106.09685']").count() == 1
        page.goto(pages_server.url + "/pairs")
        page.locator("a.cell[href*='a=qlora&b=fsdp']").click()
        assert page.locator("#panel").is_visible()
        assert page.locator("#panel h3", has_text="Sources").count() == 1
    finally:
        context.close()


def test_the_where_form_finds_offerings_and_says_why_not(
    page: Page, pages_server: LiveServer
) -> None:
    page.goto(pages_server.url + "/")
    page.get_by_role("link", name="Where").click()
    page.wait_for_url(re.compile(r"/where$"))
    page.select_option("#w-model", "phi-3-mini-4k-instruct")
    page.get_by_label("LoRA", exact=True).check()
    page.get_by_role("button", name="Find offerings").click()
    page.wait_for_url(re.compile(r"model=phi-3-mini-4k-instruct&technique=lora"))
    result = page.locator("#result")
    result.wait_for()
    api = page.request.get(
        pages_server.url + "/v1/where?model=phi-3-mini-4k-instruct&technique=lora"
    ).json()
    names = page.locator("li.match h3").all_inner_texts()
    assert names == [m["name"] for m in api["matches"]]
    kaito = page.locator("li.match", has_text="KAITO tuning workspace")
    assert "Yes: every claim behind it has high confidence" in kaito.inner_text()
    sources = kaito.locator("details.cited").first
    link = sources.locator("a").first
    assert not link.is_visible()
    sources.locator("summary").click()
    assert link.is_visible()
    assert (link.get_attribute("href") or "").startswith("https://github.com/kaito-project/kaito/")
    excluded = page.locator("ul.excluded > li")
    assert excluded.count() == len(api["excluded"])
    assert "Model retired there (2025-08-30)" in page.locator("ul.excluded").inner_text()
    # The model and technique stay chosen, so the answer can be refined.
    assert page.locator("#w-model").input_value() == "phi-3-mini-4k-instruct"
    assert page.get_by_label("LoRA", exact=True).is_checked()


def test_the_estimate_form_shows_the_fit_on_each_gpu(page: Page, pages_server: LiveServer) -> None:
    page.goto(pages_server.url + "/where?model=phi-3-mini-4k-instruct&technique=qlora")
    page.get_by_role("link", name="Will it fit?").last.click()
    page.wait_for_url(re.compile(r"/estimate\?model=phi-3-mini-4k-instruct&technique=qlora"))
    assert page.locator("#e-model").input_value() == "phi-3-mini-4k-instruct"
    page.fill("#e-seq_len", "2048")
    page.get_by_label("Gradient checkpointing").check()
    page.locator("input[name=hardware][value=h100-80gb]").check()
    page.locator("input[name=hardware][value=t4-16gb]").check()
    page.get_by_role("button", name="Estimate").click()
    page.locator("#result").wait_for()
    body = {
        "model": "phi-3-mini-4k-instruct",
        "technique": {"method": "qlora"},
        "activations": {"seq_len": 2048, "gradient_checkpointing": True},
        "hardware": ["t4-16gb", "h100-80gb"],
    }
    api = page.request.post(pages_server.url + "/v1/estimates", data=body).json()
    total = page.locator("table.breakdown tr.subtotal td[data-bytes]").last
    assert int(total.get_attribute("data-bytes") or "0") == api["per_gpu"]["total"]
    for fit in api["fits"]:
        row = page.locator(f"table.fits tr[data-hardware='{fit['hardware']}']")
        assert row.get_attribute("data-fits") == str(fit["fits"]).lower()
        assert ("Does not fit" if fit["fits"] is False else "Fits") in row.inner_text()
    picture = page.locator("figure.picture svg")
    assert picture.get_attribute("role") == "img"
    box = picture.bounding_box()
    assert box is not None
    assert 0 < box["width"] <= DESKTOP["width"]
    assert page.locator("figure.picture svg text", has_text="h100-80gb").count() == 1


def test_the_estimate_form_shows_the_apis_refusal(
    browser: Browser, pages_server: LiveServer
) -> None:
    # Its own page: the 422 is logged in the console, which the `page` fixture would fail on.
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        models = page.request.get(pages_server.url + "/v1/models").json()["items"]
        shapeless = next(m["id"] for m in models if m["architecture"] is None)
        page.goto(pages_server.url + "/estimate")
        page.select_option("#e-model", shapeless)
        with page.expect_response(re.compile(r"/estimate\?")) as answered:
            page.get_by_role("button", name="Estimate").click()
        assert answered.value.status == 422
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert f"{shapeless} has no architecture shape in the catalog data" in alert.inner_text()
        assert page.locator("#result").count() == 0
        assert page.locator("#e-model").input_value() == shapeless  # the form keeps the input
    finally:
        context.close()
