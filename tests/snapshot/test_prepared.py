"""Prepared documents: rendered once per snapshot and key, bounded, and sent as the very bytes
and headers FastAPI would have sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from service.snapshot import CellIndex, Snapshot
from service.snapshot.held import HeldCells
from service.snapshot.prepared import PreparedBytes
from service.web import routing
from service.web.deps import prepared_json, prepared_parts
from tests.helpers import run


def test_kept_documents_are_bounded_least_recent_first() -> None:
    memo = PreparedBytes(entry_limit=4, total_limit=8)
    memo.put("a", b"1234")
    memo.put("big", b"12345")  # over the entry limit: not kept
    assert memo.get("big") is None
    memo.put("b", b"5678")
    assert memo.get("a") == b"1234"  # now the most recently used
    memo.put("c", b"90")
    assert memo.get("b") is None  # the least recently used went first
    assert (memo.get("a"), memo.get("c")) == (b"1234", b"90")
    assert (len(memo), memo.size) == (2, 6)
    memo.put("c", b"9")  # replaced, and counted once
    assert memo.size == 5


def test_memo_builds_once_and_keeps_nothing_on_error() -> None:
    memo = PreparedBytes()
    calls: list[str] = []

    def build() -> bytes:
        calls.append("built")
        return b"doc"

    assert memo.memo("k", build) == memo.memo("k", build) == b"doc"
    assert calls == ["built"]

    def broken() -> bytes:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        memo.memo("other", broken)
    assert memo.get("other") is None


def empty_snapshot(revision: int = 3) -> Snapshot:
    """A snapshot without techniques or scenarios, its (no) cells held."""
    engine = sa.create_engine("sqlite://")
    cells = CellIndex(engine, revision, {}, {}, held=HeldCells({}, {}, {}))
    return Snapshot(revision=revision, techniques={}, scenarios={}, cells=cells)


def test_parts_are_joined_kept_and_sent_again() -> None:
    snap = empty_snapshot()
    renders: list[int] = []

    def parts() -> Iterator[bytes]:
        renders.append(1)
        yield b"ab"
        yield b"cd"

    first = list(run(prepared_parts(snap, ("doc", "json"), parts)))
    again = list(run(prepared_parts(snap, ("doc", "json"), parts)))
    assert first == again == [b"abcd"]
    assert renders == [1]
    assert list(run(prepared_parts(snap, ("doc", "csv"), parts))) == [b"abcd"]
    assert renders == [1, 1]  # another key, another document


def test_a_document_past_the_streaming_threshold_is_streamed_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routing, "STREAM_AFTER_BYTES", 3)
    snap = empty_snapshot()
    pulled: list[bytes] = []

    def parts() -> Iterator[bytes]:
        for piece in (b"ab", b"cd", b"ef"):
            pulled.append(piece)
            yield piece

    pieces = run(prepared_parts(snap, "big", parts))
    assert pulled == [b"ab", b"cd"]  # read up to the threshold, the rest left to the stream
    assert b"".join(pieces) == b"abcdef"
    assert snap.prepared.get("big") is None
    response = routing.send_parts(iter([b"ab", b"cd", b"ef"]), "text/plain", {})
    assert response.__class__.__name__ == "StreamingResponse"


class Thing(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str = Field(alias="Name")
    sizes: list[int]
    note: str | None = None


def test_a_prepared_answer_is_what_fastapi_sends_for_the_model() -> None:
    snap = empty_snapshot()
    app = FastAPI()
    builds: list[int] = []

    def build() -> Thing:
        builds.append(1)
        return Thing(name="LoRA \u00e9\u2014\U0001f600", sizes=[1, 2], note=None)

    @app.get("/model", response_model=Thing)
    async def model(response: Response) -> Thing:
        response.headers["ETag"] = '"rev-3"'
        response.headers["X-Revision"] = "3"
        return build()

    @app.get("/prepared", response_model=Thing)
    async def prepared(response: Response) -> Response:
        response.headers["ETag"] = '"rev-3"'
        response.headers["X-Revision"] = "3"
        return await prepared_json(snap, response, "thing", build)

    with TestClient(app) as client:
        expected = client.get("/model")
        builds.clear()
        for _ in range(2):
            got = client.get("/prepared")
            assert got.status_code == expected.status_code == 200
            assert got.content == expected.content
            assert got.headers.multi_items() == expected.headers.multi_items()
    assert builds == [1]  # serialized once, sent twice
    assert b'"Name"' in expected.content  # by alias, as FastAPI writes a response_model
