"""A parsed config file together with the 1-based line of every key in it."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.detect.plan import Location

KeyPath = tuple[str | int, ...]
"""A path into a parsed document: mapping keys are str, sequence indices int."""


def dotted(path: KeyPath) -> str:
    """Render a key path the way locations show it: `zero_optimization.stage`, `fsdp[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Document:
    """A config file parsed into plain Python values, with where each key was written.

    `lines` maps a key path to the line of the key token (for a sequence item, the line where
    the item starts; for the empty path, where the top-level value starts). When a key is
    written twice in one mapping, the last one wins, as it does in the parsed value.
    """

    file: str
    value: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def get(self, path: KeyPath) -> Any:
        """The value at `path`, or None when any step is missing or of the wrong type."""
        node = self.value
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or not 0 <= part < len(node):
                    return None
                node = node[part]
            else:
                if not isinstance(node, dict) or part not in node:
                    return None
                node = node[part]
        return node

    def has(self, path: KeyPath) -> bool:
        """Whether the key at `path` is written in the file (even with a null value)."""
        return path in self.lines

    def line_of(self, path: KeyPath) -> int | None:
        """The 1-based line of the key at `path`, or None if it is not in the file."""
        return self.lines.get(path)

    def location(self, path: KeyPath) -> Location:
        """A plan Location for the key at `path` in this file."""
        return Location(file=self.file, line=self.line_of(path), key=dotted(path) or None)


class LineIndex:
    """Turns character offsets in a text into 1-based (line, column) pairs."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        self._starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")

    def line(self, offset: int) -> int:
        """The 1-based line holding `offset`."""
        return bisect.bisect_right(self._starts, offset)

    def line_col(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of `offset`."""
        line = self.line(offset)
        return line, offset - self._starts[line - 1] + 1
