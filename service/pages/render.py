"""Rendering pages: the Jinja2 environment, asset URLs, entity tags and HTML responses."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi.responses import HTMLResponse, Response

from service import __version__
from service.compat.formats.common import rule_uri
from service.pages.where import CONFIDENCE_TEXT, FIT_ICONS, FIT_TEXT, REASON_TEXT, cite
from service.vocabulary import SUPPORT_LEVELS, VERDICTS

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_URL = "/static/pages"

SUPPORT_ICONS = {"yes": "✓", "partial": "◐", "no": "✗", "unknown": "?"}
"""Each support level has its own shape as well as its colour, so colour is never the only cue."""
SUPPORT_TEXT = {"yes": "Yes", "partial": "Partial", "no": "No", "unknown": "Unknown"}
VERDICT_ICONS = {
    "compatible": "✓",
    "caveats": "!",
    "incompatible": "✗",
    "not_applicable": "\u2013",  # an en dash
    "unknown": "?",
}
VERDICT_TEXT = {
    "compatible": "Compatible",
    "caveats": "Compatible with caveats",
    "incompatible": "Incompatible",
    "not_applicable": "Not applicable",
    "unknown": "Unknown",
}


@cache
def asset_digest() -> str:
    """A digest of every template and static file: part of each URL of an asset and of each
    page's entity tag, so a deploy that changes them is never answered from a stale cache."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted((*TEMPLATES.rglob("*"), *STATIC.rglob("*"))):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def asset(name: str) -> str:
    """The URL of a static file, versioned by `asset_digest`."""
    return f"{STATIC_URL}/{name}?v={asset_digest()}"


def query(base: str, params: Mapping[str, Any], **changes: Any) -> str:
    """`base` with `params` updated by `changes` as its query string; None and empty values
    are left out, lists repeat their key (how the filters of every page are written)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(v)) for v in values if v is not None and v != "")
    return f"{base}?{urlencode(pairs)}" if pairs else base


@cache
def environment() -> jinja2.Environment:
    """The one template environment: autoescaped, and strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        asset=asset,
        cite=cite,
        CONFIDENCE_TEXT=CONFIDENCE_TEXT,
        FIT_ICONS=FIT_ICONS,
        FIT_TEXT=FIT_TEXT,
        REASON_TEXT=REASON_TEXT,
        rule_uri=rule_uri,
        query=query,
        SUPPORT_ICONS=SUPPORT_ICONS,
        SUPPORT_TEXT=SUPPORT_TEXT,
        VERDICT_ICONS=VERDICT_ICONS,
        VERDICT_TEXT=VERDICT_TEXT,
        SUPPORT_LEVELS=SUPPORT_LEVELS,
        VERDICTS=VERDICTS,
        version=__version__,
    )
    return env


def render(template: str, **context: Any) -> str:
    """The text of `template` rendered with `context` (CPU only: fine in a worker thread)."""
    return environment().get_template(template).render(**context)


def page_etag(newest: int, path: str, items: Iterable[tuple[str, str]]) -> str:
    """The entity tag of a page: the newest revision (every page names it, in the revision
    picker at least), and a variant digest of the path, the query and the assets."""
    variant = hashlib.sha256(
        "\n".join([asset_digest(), path, *(f"{k}={v}" for k, v in sorted(items))]).encode()
    ).hexdigest()[:16]
    return f'"page-rev-{newest}-{variant}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak or strong, or `*`)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def html(
    text: str, status: int = 200, etag: str | None = None, revision: int | None = None
) -> Response:
    """An HTML response; with `etag`, one browsers revalidate on every use (no-cache)."""
    headers = {"Cache-Control": "no-cache" if etag else "no-store"}
    if etag:
        headers["ETag"] = etag
    if revision is not None:
        headers["X-Revision"] = str(revision)
    return HTMLResponse(text, status_code=status, headers=headers)


def not_modified(etag: str) -> Response:
    """The 304 for a page whose entity tag the browser already holds."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
