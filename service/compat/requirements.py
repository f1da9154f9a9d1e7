"""Structured requirements of a pair fact, and how one is judged against a plan's settings.

A pair fact's free-text `settings` say in words what a pair needs; its `requirements` say the
same for a machine: one canonical setting (a key of `service.detect.plan.SETTINGS`), one
operator and, for most operators, the value(s) it wants. Judging one against the settings a
plan detected gives one of three answers:

- `met`: the setting was read and satisfies the requirement;
- `unmet`: the setting was read and violates it (the finding points at the setting's line);
- `undetermined`: the plan does not say (the setting is absent, or only guessed), so the check
  names the setting to add.

Operators: `equals` (the value), `one_of` (any of the values), `not_equals` (anything but the
value, once read) and `absent` (the setting must not be switched on). `absent` is met by a value
of None or "none" too, and by the setting's absence when the plan holds another setting read
from the same tool's config (same prefix before the dot, e.g. `deepspeed.`): a DeepSpeed JSON
that was read and has no `offload_param` has none. Without any such setting the file that would
say was never read, and the answer is `undetermined`.

Pure: the standard library and `service.detect.plan` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.detect.plan import SETTINGS, PlannedSetting, SettingValue

Operator = Literal["equals", "one_of", "not_equals", "absent"]
Status = Literal["met", "unmet", "undetermined"]

OPERATORS: tuple[Operator, ...] = ("equals", "one_of", "not_equals", "absent")
Level = Literal["required", "recommended"]
LEVELS: tuple[Level, ...] = ("required", "recommended")
"""`required`: the job breaks or the technique has no effect without it (unmet is an error,
unknown a warning). `recommended`: what the sources' working setups use, e.g. for memory
savings (unmet is a note, unknown says nothing): upstream examples that differ still run."""
_NONE_VALUES = (None, "none")


def _canonical(value: Any) -> Any:
    # Config readers report strings as written; compare them case-insensitively ("CPU" is cpu).
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition a pair puts on one setting; see the module docstring for the operators.

    `value` is the wanted value for `equals` and `not_equals`, the tuple of accepted values for
    `one_of`, and None for `absent`. `text` says in words what is required and why; `sources`
    are the URLs it rests on. Raises ValueError for an unknown setting or operator, or a value
    that does not fit the operator.
    """

    setting: str
    operator: Operator
    value: SettingValue = None
    text: str = ""
    sources: tuple[str, ...] = ()
    level: Level = "required"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"requirement level must be one of {', '.join(LEVELS)}")
        if self.setting not in SETTINGS:
            raise ValueError(f"requirement names an unknown setting {self.setting!r}")
        if self.operator not in OPERATORS:
            raise ValueError(
                f"requirement operator must be one of {', '.join(OPERATORS)}, not {self.operator!r}"
            )
        if self.operator == "one_of" and not (isinstance(self.value, tuple) and self.value):
            raise ValueError(f"{self.setting}: one_of needs a non-empty list of values")
        if self.operator == "absent" and self.value is not None:
            raise ValueError(f"{self.setting}: absent takes no value")
        if self.operator in ("equals", "not_equals") and self.value is None:
            raise ValueError(f"{self.setting}: {self.operator} needs a value")

    @property
    def wanted(self) -> str:
        """What the requirement asks for, as a config reader would write it: `x = true`."""
        if self.operator == "absent":
            return f"{self.setting} unset (or none)"
        if self.operator == "one_of":
            assert isinstance(self.value, tuple)
            return f"{self.setting} one of {', '.join(_show(v) for v in self.value)}"
        sign = "=" if self.operator == "equals" else "!="
        return f"{self.setting} {sign} {_show(self.value)}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def requirement_from(data: Mapping[str, Any]) -> Requirement:
    """A Requirement from its stored form: {"setting", one operator key, "text", "sources"}.

    The operator key carries the value (`{"equals": true}`, `{"one_of": [...]}`,
    `{"absent": true}`). Raises ValueError for a form with no operator or more than one.
    """
    given = [op for op in OPERATORS if data.get(op) is not None]
    if len(given) != 1:
        raise ValueError(
            f"requirement on {data.get('setting')!r} needs exactly one of {', '.join(OPERATORS)}"
        )
    operator = given[0]
    raw = data[operator]
    value: SettingValue
    if operator == "absent":
        if raw is not True:
            raise ValueError(f"{data.get('setting')}: absent must be true")
        value = None
    elif operator == "one_of":
        if not isinstance(raw, list):
            raise ValueError(f"{data.get('setting')}: one_of must be a list")
        value = tuple(raw)
    else:
        value = raw
    return Requirement(
        setting=str(data["setting"]),
        operator=operator,
        value=value,
        text=str(data.get("text", "")),
        sources=tuple(data.get("sources", ())),
        level=data.get("level", "required"),
    )


def requirement_fields(requirement: Requirement) -> dict[str, Any]:
    """The stored form of a requirement (the inverse of `requirement_from`)."""
    value: Any = True if requirement.operator == "absent" else requirement.value
    if isinstance(value, tuple):
        value = list(value)
    return {
        "setting": requirement.setting,
        requirement.operator: value,
        "text": requirement.text,
        "sources": list(requirement.sources),
        **({"level": requirement.level} if requirement.level != "required" else {}),
    }


def judge(requirement: Requirement, settings: Mapping[str, PlannedSetting]) -> Status:
    """Whether the plan's settings meet the requirement; a guessed setting decides nothing."""
    found = settings.get(requirement.setting)
    if found is None or found.guessed:
        if requirement.operator == "absent" and found is None and _tool_read(requirement, settings):
            return "met"
        return "undetermined"
    value = _canonical(found.value)
    if requirement.operator == "absent":
        return "met" if value in _NONE_VALUES else "unmet"
    if requirement.operator == "one_of":
        assert isinstance(requirement.value, tuple)
        return "met" if value in {_canonical(v) for v in requirement.value} else "unmet"
    same = _equal(value, _canonical(requirement.value))
    return "met" if same == (requirement.operator == "equals") else "unmet"


def _equal(a: Any, b: Any) -> bool:
    # True == 1 in Python; a boolean requirement is not met by the number 1, nor the reverse.
    return bool(type(a) is type(b) or not (isinstance(a, bool) or isinstance(b, bool))) and a == b


def _tool_read(requirement: Requirement, settings: Mapping[str, PlannedSetting]) -> bool:
    prefix = requirement.setting.split(".", 1)[0] + "."
    # A launcher naming a config file has not read it: that name alone says nothing.
    return any(
        name.startswith(prefix) and not name.endswith(".config_file") and not s.guessed
        for name, s in settings.items()
    )


def judged(
    requirements: Sequence[Requirement], settings: Mapping[str, PlannedSetting]
) -> tuple[tuple[Requirement, Status], ...]:
    """Every requirement with its status, in the fact's order."""
    return tuple((r, judge(r, settings)) for r in requirements)
