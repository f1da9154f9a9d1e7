"""The bases every wire schema starts from, and the one rule for text the service accepts.

`Input` is the base of every request body: unknown fields are refused, and no string anywhere
in it (field values, list items, mapping keys and values, at any depth) may hold a NUL
character (PostgreSQL text cannot store one) or a lone UTF-16 surrogate (it cannot be encoded as
UTF-8, so it could be neither stored nor answered). Such input is a 422 naming the field.
`Output` is the base of every response body: immutable, and exact about its fields.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL or a lone surrogate), or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "NUL (\\u0000) is not allowed"
    return f"a lone UTF-16 surrogate (\\u{ord(char):04x}) is not allowed"


def first_unstorable(value: Any, where: str) -> tuple[str, str] | None:
    """The location and reason of the first unstorable string in `value`, searched depth first
    through mappings (keys too) and sequences; None when every string can be stored."""
    if isinstance(value, str):
        reason = unstorable(value)
        return (where, reason) if reason else None
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = first_unstorable(key, where) or first_unstorable(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = first_unstorable(item, f"{where}.{index}")
            if found:
                return found
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD, so that an answer
    that quotes the caller's input can always be encoded as UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value


def one_script(text: str) -> str:
    """`text` when its letters all come from one script and it has no full-width or other
    compatibility look-alikes (NFKC leaves it unchanged); ValueError otherwise. For ids and
    aliases, where `lora` spelled with a Cyrillic o (U+043E) would pose as `lora`."""
    if unicodedata.normalize("NFKC", text) != text:
        raise ValueError("use plain characters: full-width and compatibility forms look alike")
    scripts = {unicodedata.name(ch, "?").split()[0] for ch in text if ch.isalpha()}
    if len(scripts) > 1:
        raise ValueError(f"letters from one script only, not a mix ({', '.join(sorted(scripts))})")
    return text


class Input(BaseModel):
    """The base of request bodies: no unknown fields, no unstorable text anywhere."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        found = first_unstorable(value, info.field_name or "value")
        if found is not None:
            where, reason = found
            raise ValueError(f"{where}: {reason}")
        return value


class Output(BaseModel):
    """The base of response bodies: immutable, no fields beyond the declared ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
