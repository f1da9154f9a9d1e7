"""Key lines from YAML via PyYAML's composer, and YAML errors with positions."""

from __future__ import annotations

import time

import pytest

from service.detect.errors import DetectError
from service.detect.yamlpos import parse_yaml

CONFIG = """\
# comment
base_model: m
fsdp:
  - full_shard
  - auto_wrap
fsdp_config:
  fsdp_offload_params: true
  nested:
    base_model: inner
datasets:
  - path: tatsu-lab/alpaca
    type: alpaca
"""


def test_lines_of_top_level_nested_and_sequence_keys() -> None:
    doc = parse_yaml(CONFIG, "c.yml")
    assert doc.line_of(("base_model",)) == 2
    assert doc.line_of(("fsdp",)) == 3
    assert doc.line_of(("fsdp", 0)) == 4
    assert doc.line_of(("fsdp", 1)) == 5
    assert doc.line_of(("fsdp_config", "fsdp_offload_params")) == 7
    assert doc.line_of(("fsdp_config", "nested", "base_model")) == 9
    assert doc.line_of(("datasets", 0)) == 11
    assert doc.line_of(("datasets", 0, "type")) == 12
    assert doc.value["fsdp_config"]["fsdp_offload_params"] is True


def test_flow_style_and_null_values() -> None:
    doc = parse_yaml("a: {b: 1,\n  c: [x,\n    {d: 2}]}\nempty:\n", "f.yaml")
    assert doc.line_of(("a", "c", 1, "d")) == 3
    assert doc.has(("empty",))
    assert doc.get(("empty",)) is None
    assert not doc.has(("missing",))


def test_repeated_key_last_wins_and_drops_stale_nested_lines() -> None:
    doc = parse_yaml("a:\n  x: 1\na:\n  y: 2\n", "f.yaml")
    assert doc.value == {"a": {"y": 2}}
    assert doc.line_of(("a",)) == 3
    assert doc.line_of(("a", "y")) == 4
    assert doc.line_of(("a", "x")) is None


def test_merge_keys_are_visible_with_the_line_they_were_written_on() -> None:
    text = "base: &base\n  adapter: lora\n  lora_r: 8\nrun:\n  <<: *base\n  lora_r: 16\n"
    doc = parse_yaml(text, "f.yaml")
    assert doc.value["run"] == {"adapter": "lora", "lora_r": 16}
    assert doc.line_of(("run", "lora_r")) == 6
    assert doc.line_of(("base", "adapter")) == 2


def test_alias_bombs_finish_quickly() -> None:
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    doc = parse_yaml("\n".join(layers) + "\n", "bomb.yaml")
    assert time.monotonic() - started < 5
    assert doc.line_of(("a8",)) == 9


def test_recursive_alias_does_not_loop() -> None:
    doc = parse_yaml("a: &a\n  - *a\n", "f.yaml")
    assert doc.value["a"][0] is doc.value["a"]
    # An alias is the anchored node itself, so it reports where the anchor was written.
    assert doc.line_of(("a", 0)) == 1
    assert doc.line_of(("a", 0, 0)) is None


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("adapter: lora\n  lora_r: 8\n", 2, 9, "mapping values are not allowed here"),
        ("a: [1, 2\nb: 3\n", 2, 2, "expected ',' or ']'"),
        ('a: "unterminated\n', 2, 1, "found unexpected end of stream"),
        ("a:\n\tb: 1\n", 2, 1, "found character '\\t' that cannot start any token"),
        ("a: *nowhere\n", 1, 4, "found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document in the stream"),
        ("a: !!python/object:os.system x\n", 1, 4, "could not determine a constructor"),
    ],
)
def test_syntax_errors_carry_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(DetectError) as caught:
        parse_yaml(text, "bad.yaml")
    error = caught.value
    assert (error.file, error.line, error.column) == ("bad.yaml", line, column)
    assert error.message.startswith("invalid YAML: ")
    assert fragment in error.message


def test_unprintable_character_is_reported_where_it_is() -> None:
    with pytest.raises(DetectError, match="special characters are not allowed") as caught:
        parse_yaml("a: 1\nb: x\x07y\n", "bad.yaml")
    assert (caught.value.line, caught.value.column) == (2, 5)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_documents_are_errors(text: str) -> None:
    with pytest.raises(DetectError, match="empty YAML file"):
        parse_yaml(text, "empty.yaml")


@pytest.mark.parametrize(("text", "line"), [("- a\n- b\n", 1), ("\n\njust text\n", 3)])
def test_top_level_must_be_a_mapping(text: str, line: int) -> None:
    with pytest.raises(DetectError, match="expected a mapping of config keys") as caught:
        parse_yaml(text, "list.yaml")
    assert caught.value.line == line


def test_too_deep_nesting_is_a_detect_error() -> None:
    with pytest.raises(DetectError, match="nested too deeply"):
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
