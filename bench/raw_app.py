"""The raw baseline: a bare ASGI app that answers prepared responses, no framework at all.

`bench/run.py` captures the service's exact responses (status, headers, body) into a JSON
file and starts this app with the file's path in `FTM_BENCH_RESPONSES`:

    FTM_BENCH_RESPONSES=/tmp/x/responses.json uvicorn bench.raw_app:app --no-access-log

The file is a list of objects: `method`, `target` (path plus `?query`, as sent),
`if_none_match` (the request header that selects this response, or ""), `status`,
`headers` (a list of `[name, value]`; the server adds `date` and `server` itself) and
`body_b64`. A request is looked up by (method, target, If-None-Match); its body is read and
discarded; anything unknown gets a 404.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ENV_VAR = "FTM_BENCH_RESPONSES"

Key = tuple[str, bytes, bytes]
Prepared = tuple[int, list[tuple[bytes, bytes]], bytes]

NOT_FOUND: Prepared = (
    404,
    [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"9")],
    b"not found",
)


def load(path: str | Path) -> dict[Key, Prepared]:
    """Read the prepared responses of a JSON file written by `bench/run.py`."""
    entries: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
    routes: dict[Key, Prepared] = {}
    for entry in entries:
        key = (
            str(entry["method"]).upper(),
            str(entry["target"]).encode("latin-1"),
            str(entry.get("if_none_match", "")).encode("latin-1"),
        )
        headers = [
            (str(name).lower().encode("latin-1"), str(value).encode("latin-1"))
            for name, value in entry["headers"]
        ]
        routes[key] = (int(entry["status"]), headers, base64.b64decode(entry["body_b64"]))
    return routes


@cache
def routes() -> dict[Key, Prepared]:
    """The prepared responses, loaded once from the file named by `FTM_BENCH_RESPONSES`."""
    path = os.environ.get(ENV_VAR)
    return load(path) if path else {}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            routes()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a prepared response for (method, path?query, If-None-Match), else 404."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more_body = bool(message.get("more_body", False))
    target: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    if scope["query_string"]:
        target += b"?" + scope["query_string"]
    if_none_match = b""
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value
            break
    status, headers, body = routes().get((scope["method"], target, if_none_match), NOT_FOUND)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
