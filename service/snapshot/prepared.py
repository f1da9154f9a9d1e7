"""`PreparedBytes`: answers rendered once per revision and representation, kept with the snapshot.

A revision never changes, so neither does any document rendered from it: the matrix as JSON,
CSV or Markdown, one technique, one cell. Each is rendered on its first read and then sent as
the same bytes, instead of being validated and serialized again on every request. The memo is
bounded (an entry's size, the total per snapshot), so junk queries cannot grow it without end:
past the bound, the least recently used entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

ENTRY_LIMIT = 4 * 1024 * 1024
"""Largest document kept, in bytes (larger ones are rendered each time, and streamed)."""

TOTAL_LIMIT = 16 * 1024 * 1024
"""Bytes kept per snapshot, all entries together."""


class PreparedBytes:
    """A bounded, thread-safe memo of rendered documents, by key (least recently used first
    out). Keys name the document completely: route, representation and normalized query."""

    __slots__ = ("_entries", "_lock", "entry_limit", "size", "total_limit")

    def __init__(self, entry_limit: int = ENTRY_LIMIT, total_limit: int = TOTAL_LIMIT) -> None:
        self.entry_limit = entry_limit
        self.total_limit = total_limit
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0
        """Bytes held now."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        """The document kept under `key`, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep `body` under `key` when it fits the bounds (a larger one is not kept)."""
        if len(body) > self.entry_limit or len(body) > self.total_limit:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._entries[key] = body
            self.size += len(body)
            while self.size > self.total_limit:
                _, dropped = self._entries.popitem(last=False)
                self.size -= len(dropped)

    def memo(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The document under `key`, built by `build()` on first use (and kept if it fits).
        An exception from `build` propagates and keeps nothing."""
        found = self.get(key)
        if found is None:
            found = build()
            self.put(key, found)
        return found
