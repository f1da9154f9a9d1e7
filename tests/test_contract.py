"""Contract fuzzing: schemathesis drives every operation of the committed OpenAPI document,
writes included (with an admin key), and no answer may be a 5xx or break the document.

Schemathesis draws strings from what UTF-8 can encode, so on its own it never sends a lone
UTF-16 surrogate. Two hooks add them, and NUL, to JSON bodies and query strings: in about two
thirds of the fuzzed bodies and queries that hold a string, one string gets a lone surrogate or
a NUL at a drawn position. A JSON body carries a surrogate as its `\\udxxx` escape; a query
string as the bytes of Python's "surrogatepass" (e.g. `%ED%A0%80`), which are not UTF-8. What
was sent is counted, and a run that sent strings but no surrogate or no NUL fails, so the
fuzzing cannot silently stop covering them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.meta import TestPhase

from service.app import create_app
from service.config import PROJECT_ROOT, Settings
from tests.helpers import make_key

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MIN_REQUESTS_WITH_STRINGS = 100
"""After at least this many fuzzed requests holding a string, both a lone surrogate and a NUL
must have been sent (each is drawn for about a third of them, so missing one is no luck)."""

NUL = "\x00"
SURROGATE = re.compile("[\ud800-\udfff]")
TAINTS = st.sampled_from([None, "surrogate", NUL])
"""Per body or query: leave it as drawn, or taint one of its strings with a lone surrogate (any
of U+D800..U+DFFF) or a NUL. Untainted valid input still goes deep: the examples and coverage
phases send their requests as drawn, and so does a third of the fuzzing phase."""


@pytest.fixture
def fuzz_app(database_url: str) -> Iterator[tuple[Any, str]]:
    key = make_key(database_url, "fuzzer", "admin")
    app = create_app(Settings(database_url=database_url))
    with TestClient(app):  # runs the lifespan
        yield app, key


# The committed document is the contract (the served one equals it: tests/test_openapi.py).
schema = schemathesis.openapi.from_dict(
    json.loads((PROJECT_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
)


def _strings(value: Any) -> int:
    """How many strings `value` holds: values, list items and mapping keys, at any depth."""
    if isinstance(value, str):
        return 1
    if isinstance(value, dict):
        return sum(_strings(k) + _strings(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_strings(item) for item in value)
    return 0


def _taint(value: Any, target: int, change: Callable[[str], str]) -> tuple[Any, int]:
    """`value` with its `target`-th string (in `_strings` order) passed through `change`;
    also returns how many strings it holds, so a caller can walk on."""
    if isinstance(value, str):
        return (change(value) if target == 0 else value), 1
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        seen = 0
        for key, item in value.items():
            new_key, n = _taint(key, target - seen, change)
            seen += n
            new_item, n = _taint(item, target - seen, change)
            seen += n
            out[new_key] = new_item
        return out, seen
    if isinstance(value, list):
        items, seen = [], 0
        for item in value:
            new_item, n = _taint(item, target - seen, change)
            seen += n
            items.append(new_item)
        return items, seen
    return value, 0


@st.composite
def _tainted(draw: st.DrawFn, value: Any) -> Any:
    """`value`, or `value` with one of its strings carrying a lone surrogate or a NUL."""
    count = _strings(value)
    kind = draw(TAINTS) if count else None
    if kind is None:
        return value
    char = draw(st.characters(categories=["Cs"])) if kind == "surrogate" else NUL
    target = draw(st.integers(0, count - 1))
    spot = draw(st.integers(0, 64))

    def insert(text: str) -> str:
        at = spot % (len(text) + 1)
        return text[:at] + char + text[at:]

    tainted, _ = _taint(value, target, insert)
    return tainted


def _for_the_wire(value: Any) -> Any:
    """Query values as requests can send them: a string with a lone surrogate has no UTF-8
    form, so it goes as its "surrogatepass" bytes, which requests percent-encodes as given."""
    if isinstance(value, str) and SURROGATE.search(value):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return [_for_the_wire(item) for item in value]
    return value


def _is_json(media_type: str | None) -> bool:
    kind = (media_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


# Hooks on the body and the query, not on the case: they run before schemathesis builds the
# case, so it never re-validates these values (its Rust validator cannot take a lone surrogate).
@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """A JSON body (an object or array), maybe with one string tainted. A string body is the
    CSV or Markdown of PATCH /v1/matrix, which is sent as UTF-8 and could carry no surrogate."""
    return _tainted(body) if isinstance(body, dict | list) else st.just(body)


@schema.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    """The query, maybe with one string value (or string item of a list value) tainted. Names
    stay as drawn (they are the operation's own parameters), and so do values of other shapes,
    such as the objects of negative cases, which requests would send as their repr."""
    if not isinstance(query, dict) or not query:
        return st.just(query)
    names = list(query)
    view = [_query_strings(query[name]) for name in names]

    def rebuild(tainted: list[Any]) -> dict[str, Any]:
        return {
            name: _for_the_wire(_merge(query[name], new))
            for name, new in zip(names, tainted, strict=True)
        }

    return _tainted(view).map(rebuild)


def _query_strings(value: Any) -> Any:
    """What of a query value may be tainted: a string, or the strings of a list (None for the
    rest, which `_strings` does not count)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [item if isinstance(item, str) else None for item in value]
    return None


def _merge(value: Any, view: Any) -> Any:
    if isinstance(value, str):
        return view
    if isinstance(value, list):
        return [new if isinstance(old, str) else old for old, new in zip(value, view, strict=True)]
    return value


@dataclass
class Sent:
    """What the fuzzing phase sent: requests whose JSON body or query held a string, and how
    many of those carried a lone surrogate or a NUL."""

    with_strings: int = 0
    surrogates: int = 0
    nuls: int = 0

    def count(self, case: Any) -> None:
        if case.meta is not None and case.meta.phase.name != TestPhase.FUZZING:
            return  # the other phases draw no data through the hooks
        body = case.body if _is_json(case.media_type) else None
        texts = list(_texts([body, [_from_the_wire(v) for v in (case.query or {}).values()]]))
        if texts:
            self.with_strings += 1
            self.surrogates += any(SURROGATE.search(t) for t in texts)
            self.nuls += any(NUL in t for t in texts)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _from_the_wire(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return [_from_the_wire(item) for item in value]
    return value


@pytest.fixture(scope="module")
def sent() -> Iterator[Sent]:
    """Counts what every operation's examples sent; at the end, requires both taints."""
    counts = Sent()
    yield counts
    # Fewer requests when pytest-xdist gave this process only a few of the operations.
    if counts.with_strings >= MIN_REQUESTS_WITH_STRINGS:
        assert counts.surrogates, f"no lone surrogate was sent: {counts}"
        assert counts.nuls, f"no NUL was sent: {counts}"


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_breaks_the_contract(case: Any, fuzz_app: tuple[Any, str], sent: Sent) -> None:
    app, key = fuzz_app
    # Each test builds its own app on its own database; point the operation's schema at it.
    case.operation.schema.app = app
    sent.count(case)
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    case.call_and_validate(checks=CHECKS, app=app)
