"""How a path inside a referenced file is handed on to a resolver."""

from __future__ import annotations

import pytest

from service.detect.references import nested


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("", "base.txt", "base.txt"),
        ("sub/extra.txt", "more.txt", "sub/more.txt"),
        ("sub/extra.txt", "../base.txt", "base.txt"),
        ("a/b/c.txt", "../../d.txt", "d.txt"),
        ("../up.txt", "x.txt", "../x.txt"),
        ("sub/extra.txt", "/abs/base.txt", "/abs/base.txt"),
        ("sub/extra.txt", "https://example.com/r.txt", "https://example.com/r.txt"),
        ("sub\\extra.txt", "more.txt", "sub/more.txt"),
    ],
)
def test_nested(outer: str, inner: str, expected: str) -> None:
    assert nested(outer, inner) == expected
