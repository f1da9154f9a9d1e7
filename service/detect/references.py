"""Files that configs name (a DeepSpeed JSON, a requirements include) and how readers get them.

Readers never open files: they hand the path as written to a `Resolver` the caller supplies
(`service.detect.files` builds the ones that read from disk) and read the text it returns.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """A referenced file as a resolver found it: the name to show in locations, and its text."""

    file: str
    text: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A referenced file that was not read, and why (the reason is quoted in notes)."""

    reason: str


Resolver = Callable[[str], Source | Unavailable]
"""Given a path as a config writes it, returns the file or why it was not read."""


def nested(outer: str, inner: str) -> str:
    """The path to hand a resolver for `inner`, written inside the file referenced as `outer`.

    A relative `inner` is relative to the file that contains it, so it is joined onto the
    directory of `outer` as written; an absolute path or a URL is passed on unchanged.
    """
    inner = inner.replace("\\", "/")
    if "://" in inner or posixpath.isabs(inner) or "://" in outer:
        return inner
    return posixpath.normpath(posixpath.join(posixpath.dirname(outer.replace("\\", "/")), inner))
