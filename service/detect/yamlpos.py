"""YAML parsing (PyYAML, safe constructors) that also records the line of every key."""

from __future__ import annotations

from typing import Any

import yaml

from service.detect.document import Document, KeyPath, LineIndex
from service.detect.errors import DetectError


def parse_yaml(text: str, file: str) -> Document:
    """Parse a single YAML document whose top level is a mapping, with the line of each key.

    Raises DetectError with the 1-based line and column of a syntax error, and for an empty
    file or a top level that is not a mapping (every YAML config understood here is one).
    """
    doc = load_yaml(text, file)
    if doc.value is None:
        raise DetectError(file, None, None, "empty YAML file: expected a mapping of config keys")
    if not isinstance(doc.value, dict):
        raise DetectError(
            file, doc.line_of(()), None, "expected a mapping of config keys at the top"
        )
    return doc


# libyaml's loader composes the same nodes, with the same marks, ~15x faster than the pure
# Python one: the CLI reads every config through here. Its error messages differ, so a file it
# refuses is parsed again by the pure Python loader, whose messages and positions we report.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def load_yaml(text: str, file: str) -> Document:
    """Parse a single YAML document of any shape; `value` is None for an empty document.

    Raises DetectError with the 1-based line and column of a syntax error.
    """
    if _FAST_LOADER is not None:
        try:
            return _load(text, file, _FAST_LOADER)
        except DetectError:
            pass  # report the pure Python loader's words for it, below
    return _load(text, file, yaml.SafeLoader)


def _load(text: str, file: str, loader_class: Any) -> Document:
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(file, text, exc) from None
    try:
        node = loader.get_single_node()
        value = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(file, exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(file, text, exc) from None
    except yaml.YAMLError as exc:
        raise DetectError(file, None, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise DetectError(file, None, None, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    if node is None:
        return Document(file=file, value=None, lines={})
    lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
    try:
        _record(node, (), lines, set())
    except RecursionError:
        raise DetectError(file, None, None, "invalid YAML: nested too deeply") from None
    return Document(file=file, value=value, lines=lines)


def _reader_error(file: str, text: str, exc: yaml.reader.ReaderError) -> DetectError:
    # The reader checks characters before any token exists, so it has an offset, not a mark.
    line, column = LineIndex(text).line_col(exc.position)
    return DetectError(file, line, column, f"invalid YAML: {exc.reason}")


def _marked_error(file: str, exc: yaml.MarkedYAMLError) -> DetectError:
    mark = exc.problem_mark or exc.context_mark
    message = ", ".join(part for part in (exc.context, exc.problem) if part)
    line = None if mark is None else mark.line + 1
    column = None if mark is None else mark.column + 1
    return DetectError(file, line, column, f"invalid YAML: {message or exc}")


def _record(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], seen: set[int]) -> None:
    # An alias reuses a node; walking it once keeps `&a [*a, *a, ...]` chains from exploding
    # and recursive aliases from looping. Keys reached only through an alias get no line.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            child = (*path, key_node.value)
            if child in lines:
                # A repeated key replaces the earlier value, so its nested lines go too.
                for stale in [p for p in lines if p[: len(child)] == child]:
                    del lines[stale]
            lines[child] = key_node.start_mark.line + 1
            _record(value_node, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record(item, (*path, index), lines, seen)
