"""Fixtures of the page tests: one server and one browser for the session, axe-core, artifacts.

The browser is Debian's `chromium` driven by Playwright for Python through `executable_path`
(Playwright's own browser download is never used). Without chromium, or without the Playwright
package, the browser tests skip with the reason; under CI=true a missing chromium fails them.
axe-core comes from $FTM_AXE_CORE (the path of axe.min.js) or the npm prefix /tmp/pages-npm.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LiveServer, fresh_database

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus"
AXE_PATHS = (
    Path(os.environ.get("FTM_AXE_CORE", "/nonexistent")),
    Path("/tmp/pages-npm/node_modules/axe-core/axe.min.js"),  # noqa: S108 (.ci/run installs it)
)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def artifacts_dir() -> Path:
    """Where screenshots go: $FTM_ARTIFACTS, else tests/artifacts/ (git-ignored)."""
    path = Path(os.environ.get("FTM_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pages_server(
    migrated_template: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[LiveServer]:
    """One real server for every browser test: the pages only read, so they share a database."""
    folder = tmp_path_factory.mktemp("pages")
    with fresh_database(folder, worker_id, template=migrated_template) as url:
        server = LiveServer(url)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, started once per session."""
    executable = shutil.which("chromium")
    if executable is None:
        _missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context at desktop width (the page's CSP enforced)."""
    made = browser.new_context(viewport=DESKTOP)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any console error (a CSP violation is one)."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    assert errors == [], errors


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The text of axe.min.js."""
    for path in AXE_PATHS:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    _missing("axe-core is not installed (npm install --prefix /tmp/pages-npm axe-core)")
    raise AssertionError("unreachable")


def axe_violations(page: Page, axe: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as loaded (WCAG 2 A/AA rules)."""
    page.evaluate(axe)
    result: dict[str, Any] = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'best-practice']},
            resultTypes: ['violations']})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
