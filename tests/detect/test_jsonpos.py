"""Key lines from strict JSON: nesting, repeats, awkward strings, and errors with positions."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from service.detect.document import KeyPath, dotted
from service.detect.errors import DetectError
from service.detect.jsonpos import parse_json, parse_json_object

NESTED = """\
{
  "stage": "top",
  "zero_optimization": {
    "stage": 3,
    "offload_param": {
      "device": "nvme",
      "stage": "inner"
    }
  },
  "list": [
    {"stage": 1},
    {
      "stage": 2
    }
  ]
}
"""


def test_same_key_at_different_depths_gets_its_own_line() -> None:
    doc = parse_json(NESTED, "ds.json")
    assert doc.line_of(("stage",)) == 2
    assert doc.line_of(("zero_optimization",)) == 3
    assert doc.line_of(("zero_optimization", "stage")) == 4
    assert doc.line_of(("zero_optimization", "offload_param")) == 5
    assert doc.line_of(("zero_optimization", "offload_param", "device")) == 6
    assert doc.line_of(("zero_optimization", "offload_param", "stage")) == 7
    assert doc.line_of(("list",)) == 10
    assert doc.line_of(("list", 0)) == 11
    assert doc.line_of(("list", 0, "stage")) == 11
    assert doc.line_of(("list", 1)) == 12
    assert doc.line_of(("list", 1, "stage")) == 13
    assert doc.line_of(()) == 1


def test_value_equals_what_json_loads_builds() -> None:
    doc = parse_json(NESTED, "ds.json")
    assert doc.value["zero_optimization"]["offload_param"] == {"device": "nvme", "stage": "inner"}
    assert doc.value["list"] == [{"stage": 1}, {"stage": 2}]


def test_every_key_has_a_line_and_no_more() -> None:
    doc = parse_json(NESTED, "ds.json")
    assert set(doc.lines) == {
        (),
        ("stage",),
        ("zero_optimization",),
        ("zero_optimization", "stage"),
        ("zero_optimization", "offload_param"),
        ("zero_optimization", "offload_param", "device"),
        ("zero_optimization", "offload_param", "stage"),
        ("list",),
        ("list", 0),
        ("list", 0, "stage"),
        ("list", 1),
        ("list", 1, "stage"),
    }


def _emit(value: Any, path: KeyPath, out: list[str], lines: dict[KeyPath, int]) -> None:
    """Write `value` as JSON, one key or item per line, noting each one's line (the oracle)."""
    if isinstance(value, dict):
        out[-1] += "{"
        for i, (key, item) in enumerate(value.items()):
            out.append(json.dumps(key) + ": ")
            lines[(*path, key)] = len(out)
            _emit(item, (*path, key), out, lines)
            out[-1] += "," if i < len(value) - 1 else ""
        out.append("}")
    elif isinstance(value, list):
        out[-1] += "["
        for i, item in enumerate(value):
            out.append("")
            lines[(*path, i)] = len(out)
            _emit(item, (*path, i), out, lines)
            out[-1] += "," if i < len(value) - 1 else ""
        out.append("]")
    else:
        out[-1] += json.dumps(value)


def _random_value(rng: random.Random, depth: int) -> Any:
    names = ["stage", "device", "zero_optimization", "a b", 'q"uote', "{", "x:y", "\\"]
    kind = rng.randrange(5 if depth < 4 else 3)
    if kind == 0:
        return rng.choice([1, -2.5e3, "stage", '"}', True, None, '{"stage": 1}'])
    if kind == 1:
        return rng.choice(names)
    if kind == 2:
        return rng.randrange(4)
    if kind == 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(names): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("seed", range(40))
def test_lines_match_an_independent_emitter(seed: int) -> None:
    rng = random.Random(seed)
    value = {"root": _random_value(rng, 0), "stage": _random_value(rng, 0)}
    out = [""]
    expected: dict[KeyPath, int] = {(): 1}
    _emit(value, (), out, expected)
    doc = parse_json("\n".join(out), "gen.json")
    assert doc.value == value
    assert dict(doc.lines) == expected


def test_key_token_not_a_look_alike_inside_a_string() -> None:
    text = (
        "{\n"
        '  "note": "\\"stage\\": 9, {\\"stage\\": 8} [\\"stage\\"]",\n'
        '  "url": "http://x/\\u0022stage\\u0022:",\n'
        '  "stage": 3\n'
        "}\n"
    )
    doc = parse_json(text, "f.json")
    assert doc.line_of(("stage",)) == 4
    assert doc.value["stage"] == 3
    assert doc.value["url"] == 'http://x/"stage":'


def test_escaped_and_unicode_keys() -> None:
    text = '{\n"a\\"b": 1,\n"caf\\u00e9": {\n "ключ": [true, null]\n}\n}'
    doc = parse_json(text, "f.json")
    assert doc.line_of(('a"b',)) == 2
    assert doc.line_of(("café",)) == 3
    assert doc.line_of(("café", "ключ")) == 4
    assert doc.line_of(("café", "ключ", 1)) == 4
    assert doc.value["café"]["ключ"] == [True, None]


def test_minified_json_is_all_line_one() -> None:
    doc = parse_json('{"zero_optimization":{"stage":2,"offload_optimizer":{"device":"cpu"}}}', "m")
    assert doc.line_of(("zero_optimization", "offload_optimizer", "device")) == 1


def test_key_and_value_on_different_lines_uses_the_key_line() -> None:
    doc = parse_json('{\n  "stage"\n  :\n  3\n}', "f.json")
    assert doc.line_of(("stage",)) == 2


def test_repeated_key_last_wins_and_drops_stale_nested_lines() -> None:
    text = '{\n"a": {\n  "x": 1\n},\n"a": {\n  "y": 2\n}\n}'
    doc = parse_json(text, "f.json")
    assert doc.value == {"a": {"y": 2}}
    assert doc.line_of(("a",)) == 5
    assert doc.line_of(("a", "y")) == 6
    assert doc.line_of(("a", "x")) is None
    assert not doc.has(("a", "x"))


def test_crlf_line_endings() -> None:
    doc = parse_json('{\r\n  "a": 1,\r\n  "b": {\r\n    "c": 2\r\n  }\r\n}\r\n', "f.json")
    assert doc.line_of(("b", "c")) == 4


def test_byte_order_mark_is_dropped() -> None:
    doc = parse_json('\ufeff{\n"a": 1}', "f.json")
    assert doc.line_of(("a",)) == 2


def test_empty_containers_and_scalar_top_level() -> None:
    doc = parse_json('{"a": {}, "b": [], "c": [[]]}', "f.json")
    assert doc.value == {"a": {}, "b": [], "c": [[]]}
    assert doc.line_of(("c", 0)) == 1
    assert parse_json("\n\n 42 ", "f.json").line_of(()) == 3


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('{\n  "a": 1,\n}', 3, 1, "Expecting property name enclosed in double quotes"),
        ('{\n  // comment\n  "a": 1\n}', 2, 3, "Expecting property name enclosed in double quotes"),
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "Expecting ',' delimiter"),
        ('{\n  "a": [1, 2\n', 3, 1, "Expecting ',' delimiter"),
        ("", 1, 1, "Expecting value"),
        ('{"a": 1} {"b": 2}', 1, 10, "Extra data"),
    ],
)
def test_syntax_errors_carry_line_and_column(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(DetectError) as caught:
        parse_json(text, "bad.json")
    error = caught.value
    assert (error.file, error.line, error.column) == ("bad.json", line, column)
    assert error.message == f"invalid JSON: {message}"
    assert str(error) == f"bad.json:{line}:{column}: invalid JSON: {message}"


@pytest.mark.parametrize(("constant", "column"), [("NaN", 8), ("-Infinity", 8), ("Infinity", 8)])
def test_nan_and_infinity_are_rejected_with_position(constant: str, column: int) -> None:
    with pytest.raises(DetectError) as caught:
        parse_json('{\n "a": [' + constant + "]\n}", "bad.json")
    assert (caught.value.line, caught.value.column) == (2, column)


def test_too_deep_nesting_is_a_detect_error() -> None:
    with pytest.raises(DetectError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000, "deep.json")


def test_top_level_must_be_an_object_when_asked() -> None:
    with pytest.raises(DetectError, match="expected a JSON object for a thing") as caught:
        parse_json_object("\n[1, 2]", "arr.json", "a thing")
    assert caught.value.line == 2


def test_location_renders_dotted_keys() -> None:
    doc = parse_json(NESTED, "ds.json")
    location = doc.location(("zero_optimization", "offload_param", "device"))
    assert (location.file, location.line, location.key) == (
        "ds.json",
        6,
        "zero_optimization.offload_param.device",
    )
    assert dotted(("list", 1, "stage")) == "list[1].stage"
    assert doc.location(()).key is None
