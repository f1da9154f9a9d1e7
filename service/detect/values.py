"""Reading typed values out of a parsed config, and recording them as plan settings and notes.

Readers use these so that every value they rely on is checked the same way: a key that is
absent or null reads as None; a value of the wrong type is a DetectError pointing at its key
(a config the tool itself would reject, such as a template whose `${NUM_GPUS}` placeholder was
never filled in).
"""

from __future__ import annotations

from collections.abc import Iterable

from service.detect.document import Document, KeyPath, dotted
from service.detect.errors import DetectError
from service.detect.plan import DetectNote, Location, Plan, PlannedSetting, SettingValue

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


def invalid(doc: Document, path: KeyPath, message: str) -> DetectError:
    """A DetectError about the value at `path`, at the line of its key (of the nearest
    enclosing key that is written, when that one is missing)."""
    line = next(
        (doc.line_of(path[:end]) for end in range(len(path), 0, -1) if doc.has(path[:end])), None
    )
    return DetectError(doc.file, line, None, f"{dotted(path)}: {message}")


def integer(doc: Document, path: KeyPath, *, minimum: int = 0, auto: bool = False) -> int | None:
    """The integer at `path`; None when absent, null, or (with `auto`) the string "auto".

    Raises DetectError for any other value (a bool, a float, a string) or one below `minimum`.
    """
    value = doc.get(path)
    if value is None or (auto and is_auto(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        allowed = 'an integer or "auto"' if auto else "an integer"
        raise invalid(doc, path, f"{value!r} is not {allowed}")
    if value < minimum:
        raise invalid(doc, path, f"{value} is below {minimum}")
    return value


def number(doc: Document, path: KeyPath) -> float | None:
    """The number (int or float, not bool) at `path`; None when absent or null."""
    value = doc.get(path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(doc, path, f"{value!r} is not a number")
    return float(value)


def whole(value: float | None) -> int | float | None:
    """`value` as an int when it is a whole number (a LoRA alpha of 16.0 is 16)."""
    return int(value) if value is not None and value.is_integer() else value


def boolean(doc: Document, path: KeyPath, *, auto: bool = False) -> bool | None:
    """The boolean at `path`; None when absent, null, or (with `auto`) "auto".

    Accepts YAML/JSON booleans and the strings true/false (yes/no, on/off), which the tools'
    own parsers accept too. Raises DetectError for anything else.
    """
    value = doc.get(path)
    if value is None or (auto and is_auto(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    allowed = 'true, false or "auto"' if auto else "true or false"
    raise invalid(doc, path, f"{value!r} is not {allowed}")


def string(doc: Document, path: KeyPath) -> str | None:
    """The non-empty string at `path`, stripped; None when absent, null or empty.

    Raises DetectError for a value that is not a string (a number, a list, a mapping).
    """
    value = doc.get(path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(doc, path, f"{value!r} is not a string")
    return value.strip() or None


def choice(doc: Document, path: KeyPath, allowed: Iterable[str]) -> str | None:
    """The string at `path`, lower-cased, which must be one of `allowed` (lower case)."""
    value = string(doc, path)
    if value is None:
        return None
    options = tuple(allowed)
    if value.lower() not in options:
        raise invalid(doc, path, f"{value!r} is not one of {', '.join(options)}")
    return value.lower()


def names(doc: Document, path: KeyPath) -> tuple[str, ...] | None:
    """Module names at `path`: a list of strings, or one string split on commas."""
    value = doc.get(path)
    if value is None:
        return None
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [item.strip() for item in value]
    else:
        raise invalid(doc, path, f"{value!r} is not a list of module names")
    found = tuple(part for part in parts if part)
    return found or None


def is_auto(value: object) -> bool:
    """Whether `value` is the string "auto" that HF and Accelerate templates use."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def record(
    plan: Plan,
    doc: Document,
    name: str,
    path: KeyPath,
    value: SettingValue,
    *,
    guessed: bool = False,
) -> None:
    """Record setting `name` (a key of SETTINGS) read at `path`, unless `value` is None."""
    if value is not None:
        plan.add_setting(PlannedSetting(name, value, doc.location(path), guessed))


def note(plan: Plan, severity: str, message: str, location: Location | None = None) -> None:
    """Add a reader's note ("info" or "warning") unless the same one is already there."""
    found = DetectNote(severity, message, location)
    if found not in plan.notes:
        plan.notes.append(found)


def nothing_to_check(plan: Plan, doc: Document, what: str, path: KeyPath = ()) -> None:
    """When the plan has no technique, say what was read instead (an info note at `path`)."""
    if not plan.techniques:
        note(plan, "info", f"{what}: no technique to check", doc.location(path))
