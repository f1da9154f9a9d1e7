"""Answers a write did not touch are re-labelled for the new revision, not computed again; and a
re-labelled answer is byte for byte what the application computes for that revision.

Every route that declares what it reads (`service.web.routing.reads`) is read through the fast
path before and after each kind of write, and compared with the same read from an application
without a fast path on the same database. A route that declared too little would show the old
data under the new revision here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.app import ROUTERS, create_app
from service.config import Settings
from service.snapshot import Section
from service.web.fastpath import Prepared, relabelled
from service.web.routing import declared_reads
from tests.helpers import Headers, fast_layer

DECLARED = {
    "/v1/techniques": "/v1/techniques",
    "/v1/techniques?limit=2&offset=1": "/v1/techniques",
    "/v1/techniques/qlora": "/v1/techniques/{technique_id}",
    "/v1/techniques/QLoRA": "/v1/techniques/{technique_id}",
    "/v1/scenarios": "/v1/scenarios",
    "/v1/scenarios/qa-tasks": "/v1/scenarios/{scenario_id}",
    "/v1/pairs": "/v1/pairs",
    "/v1/models": "/v1/models",
    "/v1/models?format=csv": "/v1/models",
    "/v1/models/phi-4": "/v1/models/{model_id}",
    "/v1/hardware": "/v1/hardware",
    "/v1/hardware/a100-80gb": "/v1/hardware/{hardware_id}",
    "/v1/platforms": "/v1/platforms",
    "/v1/platforms/kaito": "/v1/platforms/{platform_id}",
    "/v1/offerings": "/v1/offerings",
    "/v1/offerings?technique=lora": "/v1/offerings",
    "/v1/offerings/kaito-tuning": "/v1/offerings/{offering_id}",
}
"""Reads of every route that declares what it reads, with the query variants that pick."""

UNDECLARED = ("/v1/matrix", "/v1/matrix/qa-tasks/lora", "/", "/v1/revisions",
              "/v1/pairs/qlora/zero-3")  # fmt: skip
"""Reads of routes that declare nothing: computed again after every write."""

VARYING = frozenset({"date", "x-request-id"})


def _answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return response.status_code, headers, response.content


@pytest.fixture
def fresh(settings: Settings) -> Iterator[TestClient]:
    """The application without its fast path, on the same database: every read computed."""
    with TestClient(create_app(settings.model_copy(update={"fast_path": False}))) as client:
        yield client


def _revision(client: TestClient) -> int:
    revision: int = client.get("/v1/revisions").json()["revision"]
    return revision


Write = Callable[[TestClient, Headers], Any]


def _entity_write(route: str, kind: str, ident: str) -> Write:
    def write(client: TestClient, h: Headers) -> Any:
        entity = client.get(f"/v1/{route}/{ident}").json()[kind]
        body = {k: v for k, v in entity.items() if k not in ("id", "since_revision", "offerings")}
        body["name"] = f"{body['name']} (re-labelling test)"
        return client.put(f"/v1/{route}/{ident}", json=body, headers=h(rev=_revision(client)))

    return write


_NOTES = itertools.count()


def _write(method: str, path: str, body: Callable[[], dict[str, Any]]) -> Write:
    def write(client: TestClient, h: Headers) -> Any:
        return client.request(method, path, json=body(), headers=h(rev=_revision(client)))

    return write


WRITES: dict[str, tuple[Write, frozenset[Section]]] = {
    "cell": (
        _write("PUT", "/v1/matrix/qa-tasks/lora", lambda: {
            "support": "no", "note": f"re-labelling test {next(_NOTES)}", "sources": ["t"]}),
        frozenset({Section.CELLS}),
    ),
    "technique": (
        _write("PATCH", "/v1/techniques/qlora", lambda: {"summary": "re-labelling test"}),
        frozenset({Section.TECHNIQUES}),
    ),
    "scenario": (
        _write("PATCH", "/v1/scenarios/qa-tasks", lambda: {"description": "re-labelling test"}),
        frozenset({Section.SCENARIOS}),
    ),
    "pair": (
        _write("PUT", "/v1/pairs/qlora/zero-3", lambda: {
            "verdict": "caveats", "note": "re-labelling test"}),
        frozenset({Section.PAIRS}),
    ),
    "model": (_entity_write("models", "model", "phi-4"), frozenset({Section.ENTITIES})),
    "hardware": (
        _entity_write("hardware", "hardware", "a100-80gb"),
        frozenset({Section.ENTITIES}),
    ),
    "offering": (
        _entity_write("offerings", "offering", "kaito-tuning"),
        frozenset({Section.ENTITIES}),
    ),
}  # fmt: skip


def _routes() -> dict[str, Any]:
    return {
        route.path: route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }


def test_the_reads_here_are_the_routes_that_declare_what_they_read() -> None:
    """Every declared route is read by the test below (a new declaration needs a read here)."""
    declared = {path for path, route in _routes().items() if declared_reads(route) is not None}
    assert declared == set(DECLARED.values())
    for path in UNDECLARED:
        assert path.partition("?")[0] not in declared


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_relabelled_answer_is_the_answer_the_application_computes(
    client: TestClient, fresh: TestClient, h: Headers, kind: str
) -> None:
    fast = fast_layer(client)
    write, touched = WRITES[kind]
    for target in [*DECLARED, *UNDECLARED]:
        for _ in range(2):  # prepared, then a hit
            assert client.get(target).status_code == 200, target
    before = _revision(client)
    written = write(client, h)
    assert written.status_code == 200, written.text
    assert _revision(client) == before + 1
    client.get("/v1/matrix")  # any miss loads the new snapshot, patched from the old one
    relabels = fast.relabels
    expected = 0
    for target, template in DECLARED.items():
        got = client.get(target)
        assert got.headers["x-revision"] == str(before + 1), target
        assert got.headers["etag"].startswith(f'"rev-{before + 1}'), target
        if got.headers["content-type"] == "application/json":
            assert got.json()["revision"] == before + 1, target
        assert _answer(got) == _answer(fresh.get(target)), target
        reads = declared_reads(_routes()[template])
        assert reads is not None
        if not reads & touched and got.content.startswith(b'{"revision":'):
            expected += 1  # (a CSV document is computed again: it does not lead with it)
    # Each declared read that the write did not touch was re-labelled, not computed; the others
    # (and every undeclared route) were computed again.
    assert fast.relabels - relabels == expected
    assert expected > 0 or kind in ("technique",)
    for target in UNDECLARED:
        got = client.get(target)
        assert got.headers["x-revision"] == str(before + 1), target
    assert fast.relabels - relabels == expected


def test_a_relabelled_answer_revalidates_with_its_new_etag(client: TestClient, h: Headers) -> None:
    fast = fast_layer(client)
    old = client.get("/v1/techniques/qlora")
    client.get("/v1/techniques/qlora")
    write, _ = WRITES["cell"]
    assert write(client, h).status_code == 200
    client.get("/v1/matrix")
    relabels = fast.relabels
    stale = client.get("/v1/techniques/qlora", headers={"If-None-Match": old.headers["etag"]})
    assert stale.status_code == 200  # the old tag names the old revision: no longer current
    assert fast.relabels == relabels + 1
    tag = stale.headers["etag"]
    assert tag != old.headers["etag"]
    revalidated = client.get("/v1/techniques/qlora", headers={"If-None-Match": tag})
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == tag
    head = client.head("/v1/techniques/qlora")
    assert (head.status_code, head.headers["etag"], head.content) == (200, tag, b"")
    assert head.headers["content-length"] == str(len(stale.content))


def test_answers_two_revisions_old_are_computed_again(client: TestClient, h: Headers) -> None:
    """Only the revision just before is re-labelled from: the fast path set it aside when it
    saw the new one; older answers are gone."""
    fast = fast_layer(client)
    client.get("/v1/models/phi-4")
    write, _ = WRITES["cell"]
    assert write(client, h).status_code == 200
    client.get("/v1/matrix")  # sees the new revision: phi-4's answer is set aside
    assert write(client, h).json()["created_revision"] is not None
    client.get("/v1/matrix")  # and again: the answer set aside was of two revisions ago
    relabels = fast.relabels
    assert client.get("/v1/models/phi-4").status_code == 200
    assert fast.relabels == relabels


def _prepared(body: bytes, etag: bytes = b'"rev-9"', revision: bytes = b"9") -> Prepared:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        (b"etag", etag),
        (b"x-revision", revision),
    ]
    return Prepared(9, headers, body, "/v1/x", "", etag, "", [], frozenset({Section.CELLS}))


def test_relabelling_changes_the_revision_and_the_length_and_nothing_else() -> None:
    old = _prepared(b'{"revision":9,"since_revision":9,"note":"rev-9"}')
    new = relabelled(old, 10)
    assert new is not None
    assert new.body == b'{"revision":10,"since_revision":9,"note":"rev-9"}'
    assert dict(new.headers) == {
        b"content-length": str(len(new.body)).encode(),
        b"content-type": b"application/json",
        b"etag": b'"rev-10"',
        b"x-revision": b"10",
    }
    assert new.etag == b'"rev-10"'
    assert (new.revision, new.reads) == (10, old.reads)
    variant = relabelled(_prepared(b'{"revision":9,"x":1}', etag=b'"rev-9-csv"'), 10)
    assert variant is not None
    assert variant.etag == b'"rev-10-csv"'


@pytest.mark.parametrize(
    ("body", "etag", "revision"),
    [
        (b"scenario,technique\n", b'"rev-9"', b"9"),  # not a JSON document led by its revision
        (b'{"revision":90,"x":1}', b'"rev-9"', b"9"),  # another number
        (b'{"revision":9,"x":1}', b'"rev-90"', b"9"),  # an ETag of another revision
        (b'{"revision":9,"x":1}', b'"page-rev-9-abc"', b"9"),  # an ETag of another form
        (b'{"revision":9,"x":1}', b'"rev-9"', b"8"),  # X-Revision disagrees
    ],
)
def test_an_answer_not_of_the_expected_form_is_not_relabelled(
    body: bytes, etag: bytes, revision: bytes
) -> None:
    assert relabelled(_prepared(body, etag, revision), 10) is None
