"""Reads during writes: writes enter the application one at a time, each with its whole body
(`service.web.lane`); and a burst of identical misses is answered by one computation
(`FastReads._serve`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from starlette.types import Message, Receive, Scope, Send

from service.app import create_app
from service.config import Settings
from service.web.lane import WriteLane
from tests.helpers import run

T = TypeVar("T")


def _scope(method: str, path: str = "/v1/matrix/qa-tasks/lora") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}


class _Recorder:
    """An application that notes how many requests are inside it at once, and what body each
    received, then answers 200 once `release` is set."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.bodies: list[bytes] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        try:
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.bodies.append(body)
            await self.release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.inside -= 1


def _whole(body: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _sink(message: Message) -> None:
    return None


def test_writes_enter_one_at_a_time_and_reads_never_wait() -> None:
    async def scenario() -> tuple[int, int, list[bytes]]:
        app = _Recorder()
        lane = WriteLane(app, max_body_bytes=1024)
        writes = [
            asyncio.create_task(lane(_scope(method), _whole(method.encode()), _sink))
            for method in ("PUT", "PATCH", "POST", "DELETE")
        ]
        await asyncio.sleep(0.05)
        assert (app.inside, lane.waiting) == (1, 3)  # one write inside, three waiting
        # A read and a plan check go straight in while the write holds the lane.
        reads = [
            asyncio.create_task(lane(_scope("GET", "/v1/matrix"), _whole(b""), _sink)),
            asyncio.create_task(lane(_scope("POST", "/v1/checks"), _whole(b"{}"), _sink)),
        ]
        await asyncio.sleep(0.05)
        inside_with_reads = app.inside
        app.release.set()
        await asyncio.gather(*writes, *reads)
        return inside_with_reads, app.most, app.bodies

    inside_with_reads, most, bodies = run(scenario())
    assert inside_with_reads == 3
    assert most == 3  # the one write and the two reads; never two writes
    assert sorted(bodies) == sorted([b"PUT", b"PATCH", b"POST", b"DELETE", b"", b"{}"])


def test_a_write_whose_body_is_slow_does_not_hold_the_lane() -> None:
    async def scenario() -> tuple[list[bytes], bool]:
        app = _Recorder()
        app.release.set()
        lane = WriteLane(app, max_body_bytes=1024)
        rest = asyncio.Event()
        chunks: list[Message] = [
            {"type": "http.request", "body": b"slow ", "more_body": True},
            {"type": "http.request", "body": b"body", "more_body": False},
        ]

        async def trickle() -> Message:
            if len(chunks) == 1:
                await rest.wait()  # the client has not sent the rest yet
            return chunks.pop(0)

        slow = asyncio.create_task(lane(_scope("PUT"), trickle, _sink))
        await asyncio.sleep(0.02)
        await asyncio.wait_for(lane(_scope("PATCH"), _whole(b"quick"), _sink), timeout=2)
        quick_done_first = not slow.done()
        rest.set()
        await slow
        return app.bodies, quick_done_first

    bodies, quick_done_first = run(scenario())
    assert quick_done_first
    assert bodies == [b"quick", b"slow body"]  # the slow one's chunks arrive joined, in order


def test_a_body_over_the_limit_goes_in_as_it_came() -> None:
    """Past the limit the lane stops reading; the application reads the rest (and answers its
    413): nothing is lost or reordered."""

    async def scenario() -> list[bytes]:
        app = _Recorder()
        app.release.set()
        lane = WriteLane(app, max_body_bytes=4)
        chunks: list[Message] = [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.request", "body": b"def", "more_body": True},
            {"type": "http.request", "body": b"ghi", "more_body": False},
        ]

        async def receive() -> Message:
            return chunks.pop(0)

        await lane(_scope("PUT"), receive, _sink)
        return app.bodies

    assert run(scenario()) == [b"abcdefghi"]


def test_a_client_gone_before_its_body_ends_is_seen_so() -> None:
    async def scenario() -> list[Message]:
        seen: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(await receive())
            seen.append(await receive())

        lane = WriteLane(app, max_body_bytes=1024)
        chunks: list[Message] = [
            {"type": "http.request", "body": b"part", "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> Message:
            return chunks.pop(0)

        await lane(_scope("PUT"), receive, _sink)
        return seen

    assert run(scenario()) == [
        {"type": "http.request", "body": b"part", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def _against(app: Any, requests: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """`requests(client)` against `app` in this event loop; then its connections closed."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await requests(client)
    finally:
        await app.state.keys.watch.aclose()
        app.state.engine.dispose()


def test_a_burst_of_identical_misses_is_computed_once(settings: Settings) -> None:
    """After a write every reader of a hot answer misses at once: one computes it, the rest
    wait for it and get the same bytes."""
    app = create_app(settings)
    fast: Any = app.fast  # type: ignore[attr-defined]
    inner = fast.app
    computed: list[str] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            computed.append(scope["path"])
            await asyncio.sleep(0.05)  # long enough for the burst to arrive meanwhile
        await inner(scope, receive, send)

    fast.app = slow

    async def burst(c: httpx.AsyncClient) -> list[httpx.Response]:
        return await asyncio.gather(*(c.get("/v1/techniques/qlora") for _ in range(20)))

    answers = run(_against(app, burst))
    assert computed == ["/v1/techniques/qlora"]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len({a.headers["etag"] for a in answers}) == 1
    assert len({a.headers["x-request-id"] for a in answers}) == 20  # each its own request
    assert fast.misses == 1


def test_a_miss_that_waits_too_long_is_computed_by_itself(settings: Settings) -> None:
    """The wait is bounded: a first computation slower than `FLIGHT_WAIT_S` (or a slow client
    of it) does not hold the others."""
    from service.web import fastpath

    app = create_app(settings)
    fast: Any = app.fast  # type: ignore[attr-defined]
    inner = fast.app
    computed: list[float] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            computed.append(asyncio.get_running_loop().time())
            if len(computed) == 1:
                await asyncio.sleep(fastpath.FLIGHT_WAIT_S * 4)
        await inner(scope, receive, send)

    fast.app = slow

    async def two(c: httpx.AsyncClient) -> list[httpx.Response]:
        first = asyncio.create_task(c.get("/v1/scenarios/qa-tasks"))
        await asyncio.sleep(0.01)
        second = await c.get("/v1/scenarios/qa-tasks")
        second_done_first = not first.done()
        answers = [await first, second]
        assert second_done_first
        return answers

    answers = run(_against(app, two))
    assert len(computed) == 2
    assert answers[0].content == answers[1].content
