"""The access log: one JSON line per request on stderr, written without `logging` records.

It runs on every request, including the fast path, so the line is assembled directly; it has
the fields of the other JSON logs (`ts`, `level`, `logger`, `msg`) and is on whenever the
`ftmatrix.access` logger is enabled for INFO.

Lines are buffered and written together at most FLUSH_SECONDS later (or every FLUSH_LINES
lines, and at shutdown), as nginx's `access_log ... buffer=` does: one write per line was half
the cost of a cached read. What is buffered are a line's fields; the lines are formatted at the
flush, in one tight loop, which measured about 5 us a request cheaper under load than formatting
each line between two requests. A process killed with SIGKILL can lose the last fraction of a
second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import TextIO

LOGGER = "ftmatrix.access"

_Fields = tuple[float, str, float, str, str | None, str | None]
"""A line not yet formatted: time, fixed fields, duration, request id, client, key name."""


FLUSH_SECONDS = 0.2
FLUSH_LINES = 512


class AccessLog:
    """Writes access lines; `stream` defaults to the current sys.stderr at each flush."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.logger = logging.getLogger(LOGGER)
        self._second = -1
        self._stamp = ""
        self._buffer: list[_Fields] = []
        self._scheduled = False

    def flush(self) -> None:
        """Write out the buffered lines now."""
        self._scheduled = False
        if self._buffer:
            # Request ids match a plain pattern (or were made here): no escaping needed.
            ts = self._ts
            data = "".join(
                [
                    f'{{"ts":"{ts(now)}","level":"info","logger":"{LOGGER}",{fixed}'
                    f'"duration_ms":{duration * 1000:.3f},"request_id":"{request_id}",'
                    f'"client":{_str(client)},"key":{_str(key)}}}\n'
                    for now, fixed, duration, request_id, client, key in self._buffer
                ]
            )
            self._buffer.clear()
            stream = self.stream or sys.stderr
            stream.write(data)
            stream.flush()

    def _append(self, fields: _Fields) -> None:
        self._buffer.append(fields)
        if len(self._buffer) >= FLUSH_LINES:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a direct call): nothing would flush later
                self.flush()
                return
            loop.call_later(FLUSH_SECONDS, self.flush)
            self._scheduled = True

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def _ts(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once a second, not once a request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(
        self,
        *,
        method: str,
        path: str,
        route: str,
        status: int,
        duration: float,
        request_id: str,
        client: str | None,
        key: str | None,
    ) -> None:
        if not self.enabled():
            return
        self.write_fixed(
            fixed_fields(method, path, route, status), duration, request_id, client, key
        )

    def write_fixed(
        self, fixed: str, duration: float, request_id: str, client: str | None, key: str | None
    ) -> None:
        """Write a line whose per-route part (`fixed_fields`) was built beforehand."""
        if not self.enabled():
            return
        self._append((time.time(), fixed, duration, request_id, client, key))


def fixed_fields(method: str, path: str, route: str, status: int) -> str:
    """The part of an access line that is the same for every answer to one request."""
    return (
        f'"msg":"request","method":{_str(method)},"path":{_str(path)},'
        f'"route":{_str(route)},"status":{status},'
    )


def _str(value: str | None) -> str:
    """A JSON string (or null); plain text skips the encoder, which dominates a line's cost."""
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value)
