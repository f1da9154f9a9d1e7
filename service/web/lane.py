"""`WriteLane`: the application takes one write at a time per process, each with its body read.

Writes serialize anyway: every accepted write makes the next revision, and on SQLite one
transaction writes at a time. Letting twenty of them into the application at once only makes
twenty threads compete for the interpreter with the event loop that answers the reads: with 20
writers, readers fell from about 24,000 to under 3,000 requests/s, while the writers gained
nothing. In the lane, a waiting write costs nothing until its turn (issue 17, "reads during
writes"; `bench/run.py --scenarios writes`).

A write enters the lane only once its body has arrived (up to the body limit, past which the
application answers 413 at once), so a client that sends its body slowly cannot hold the lane
for everyone else. Reads and the read-only POSTs (`READ_ONLY_POSTS`) never wait for it.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.web.middleware import WRITE_METHODS
from service.web.routing import is_read_only_post

LANES = 1
"""Writes in the application at once, per process."""


class WriteLane:
    """The ASGI layer in front of the application that admits writes `lanes` at a time."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, lanes: int = LANES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.lanes = lanes
        self._lane: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.waiting = 0
        """Writes whose body has arrived, waiting for the lane (for tests and diagnostics)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or is_read_only_post(scope)
        ):
            await self.app(scope, receive, send)
            return
        ahead = await self._read_body(receive)

        async def replay() -> Message:
            return ahead.pop(0) if ahead else await receive()

        lane = self._semaphore()
        self.waiting += 1
        try:
            await lane.acquire()
        finally:
            self.waiting -= 1
        try:
            await self.app(scope, replay, send)
        finally:
            lane.release()

    def _semaphore(self) -> asyncio.Semaphore:
        # One per event loop: a semaphore belongs to the loop it first waited in, and an app
        # may serve from more than one over its life (each of the tests' clients has its own).
        loop = asyncio.get_running_loop()
        if self._lane is None or self._lane[0] is not loop:
            self._lane = (loop, asyncio.Semaphore(self.lanes))
        return self._lane[1]

    async def _read_body(self, receive: Receive) -> list[Message]:
        """The request's messages up to its whole body, or up to the first past the body limit
        (the rest is still to be received), or up to a disconnect: to be replayed as they came,
        except that the body chunks read are joined into one message."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return [_joined(chunks, more=False), message] if chunks else [message]
            body = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            more = bool(message.get("more_body", False))
            if not more or size > self.max_body_bytes:
                return [_joined(chunks, more=more)]


def _joined(chunks: list[bytes], *, more: bool) -> Message:
    return {"type": "http.request", "body": b"".join(chunks), "more_body": more}
