"""Strict JSON parsing that also records the line of every key.

The stdlib parser reports no positions for what it parses, so after it has validated the text
(and produced its error messages) a small scanner walks the same text again, building the same
value and noting the line of each key token as it passes it. Because the walk follows the
nesting, a key is attributed to the object it belongs to, even when the same name appears at
several depths.
"""

from __future__ import annotations

import json
from typing import Any

from service.detect.document import Document, KeyPath, LineIndex
from service.detect.errors import DetectError

_WHITESPACE = " \t\n\r"
_NOT_JSON = ("NaN", "Infinity", "-Infinity")


def parse_json(text: str, file: str) -> Document:
    """Parse `text` as strict JSON (no comments, no trailing commas, no NaN) with key lines.

    Raises DetectError carrying the 1-based line and column of the first error.
    """
    text = text.removeprefix("\ufeff")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise DetectError(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise DetectError(file, None, None, "invalid JSON: nested too deeply") from None
    scanner = _Scanner(text, file)
    start = _skip(text, 0)
    try:
        value, _ = scanner.value(start, ())
    except RecursionError:
        raise DetectError(file, None, None, "invalid JSON: nested too deeply") from None
    scanner.lines[()] = scanner.index.line(start)
    return Document(file=file, value=value, lines=scanner.lines)


def parse_json_object(text: str, file: str, what: str) -> Document:
    """Parse `text` as strict JSON whose top level must be an object; `what` names the kind."""
    return require_object(parse_json(text, file), what)


def require_object(doc: Document, what: str) -> Document:
    """`doc` itself if its top level is a JSON object; `what` names the kind in the error."""
    if not isinstance(doc.value, dict):
        raise DetectError(doc.file, doc.line_of(()), None, f"expected a JSON object for {what}")
    return doc


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


class _Scanner:
    """Walks text that json.loads has already accepted, so it need not diagnose errors."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.index = LineIndex(text)
        self.lines: dict[KeyPath, int] = {}
        self._decoder = json.JSONDecoder()

    def value(self, pos: int, path: KeyPath) -> tuple[Any, int]:
        char = self.text[pos]
        if char == "{":
            return self._object(pos, path)
        if char == "[":
            return self._array(pos, path)
        if self.text.startswith(_NOT_JSON, pos):
            line, column = self.index.line_col(pos)
            raise DetectError(
                self.file, line, column, "invalid JSON: NaN and Infinity are not JSON"
            )
        scalar, end = self._decoder.raw_decode(self.text, pos)
        return scalar, end

    def _object(self, pos: int, path: KeyPath) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        pos = _skip(self.text, pos + 1)
        if self.text[pos] == "}":
            return result, pos + 1
        while True:
            key_start = pos
            key, pos = self._decoder.raw_decode(self.text, pos)
            child = (*path, key)
            if key in result:
                # A repeated key replaces the earlier value, so its nested lines go too.
                self._forget(child)
            self.lines[child] = self.index.line(key_start)
            pos = _skip(self.text, _skip(self.text, pos) + 1)
            result[key], pos = self.value(pos, child)
            pos = _skip(self.text, pos)
            if self.text[pos] == "}":
                return result, pos + 1
            pos = _skip(self.text, pos + 1)

    def _array(self, pos: int, path: KeyPath) -> tuple[list[Any], int]:
        result: list[Any] = []
        pos = _skip(self.text, pos + 1)
        if self.text[pos] == "]":
            return result, pos + 1
        while True:
            child = (*path, len(result))
            self.lines[child] = self.index.line(pos)
            item, pos = self.value(pos, child)
            result.append(item)
            pos = _skip(self.text, pos)
            if self.text[pos] == "]":
                return result, pos + 1
            pos = _skip(self.text, pos + 1)

    def _forget(self, prefix: KeyPath) -> None:
        for path in [p for p in self.lines if p[: len(prefix)] == prefix]:
            del self.lines[path]
