"""Conditional requests and HEAD (RFC 9110 13.1.2, 9.3.2, 15.4.5), as ASGI `send` wrappers:
a 200 whose ETag the client already holds goes out as a 304 without a body, and a HEAD answer
is the GET's status and headers without the body. The fast path uses them on every read, its
own prepared answers and the application's alike.
"""

from __future__ import annotations

from starlette.types import Message, Send


def matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 13.1.2 asks)."""
    if if_none_match == etag:  # the usual case: the client sends back the one ETag it got
        return True
    candidates = [part.strip().removeprefix(b"W/") for part in if_none_match.split(b",")]
    return etag in candidates or b"*" in candidates


# RFC 9110 15.4.5: a 304 carries the headers the 200 would have had that caches need.
_KEPT_ON_304 = frozenset({b"etag", b"vary", b"cache-control", b"x-revision", b"content-location"})


def not_modified_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of a 200 that its 304 repeats."""
    return [(k, v) for k, v in headers if k.lower() in _KEPT_ON_304]


def without_body(send: Send) -> Send:
    """A HEAD answer: the GET's status and headers (Content-Length included), no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body"):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


def conditional(if_none_match: bytes, send: Send) -> Send:
    """Turn a 200 whose ETag the client already holds into a 304 without a body."""
    if not if_none_match:
        return send
    not_modified = False

    async def send_conditional(message: Message) -> None:
        nonlocal not_modified
        if message["type"] == "http.response.start" and message["status"] == 200:
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            etag = next((v for k, v in headers if k == b"etag"), b"")
            if etag and matches(if_none_match, etag):
                not_modified = True
                message = {"type": "http.response.start", "status": 304,
                           "headers": not_modified_headers(headers)}  # fmt: skip
        elif message["type"] == "http.response.body" and not_modified:
            if message.get("more_body"):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_conditional
