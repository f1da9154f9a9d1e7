"""Curators' operations on the data, each applied through a `Writer` (one revision a write)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from service.admin import schemas as s
from service.admin.bulk import CellEdit, RowError
from service.admin.writer import (
    SCENARIO_VERSIONS,
    SCENARIOS,
    TECHNIQUE_VERSIONS,
    TECHNIQUES,
    Writer,
    scenario_fields,
    technique_fields,
)
from service.catalog import service as catalog
from service.compat import service as compat
from service.compat.requirements import requirement_fields, requirement_from
from service.compat.schemas import PairWrite
from service.detect.plan import SETTINGS, normalize_name
from service.errors import Conflict, InvalidInput, closest
from service.snapshot import CellData, PairData, Snapshot, TechniqueData, pair_key

UNSET_CELL: dict[str, Any] = {"support": "unknown", "note": "", "sources": []}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _clean_aliases(aliases: Sequence[str], own_id: str) -> list[str]:
    seen: set[str] = {own_id.casefold()}
    out: list[str] = []
    for alias in aliases:
        if alias.casefold() not in seen:
            seen.add(alias.casefold())
            out.append(alias)
    return out


def _check_technique_spellings(snap: Snapshot, own: str | None, spellings: Sequence[str]) -> None:
    for spelling in spellings:
        holder = snap.technique_lookup.get(spelling.casefold())
        if holder is not None and holder != own:
            raise Conflict(
                f"{spelling!r} already names the technique {holder!r}; ids and aliases are unique.",
                conflicting=holder,
            )


def _check_scenario_spellings(snap: Snapshot, own: str | None, spellings: Sequence[str]) -> None:
    for spelling in spellings:
        holder = snap.scenario_lookup.get(spelling.casefold())
        if holder is not None and holder != own:
            raise Conflict(
                f"{spelling!r} already names the scenario {holder!r}; ids, aliases and titles "
                "are unique.",
                conflicting=holder,
            )


def _parent(snap: Snapshot, value: str | None, child: str | None) -> str | None:
    if value is None:
        return None
    found = snap.find_technique(value)
    if found is None:
        raise InvalidInput(
            f"The parent {value!r} is not a technique.",
            allowed=list(snap.techniques),
            did_you_mean=closest(value, snap.techniques),
            errors=[{"location": "body.parent", "message": "unknown technique", "input": value}],
        )
    node: str | None = found.id
    while node is not None:
        if node == child:
            raise InvalidInput(
                f"{value!r} cannot be the parent of {child!r}: that would make a cycle.",
                errors=[{"location": "body.parent", "message": "cycle", "input": value}],
            )
        node = snap.techniques[node].parent
    return found.id


def create_technique(w: Writer, body: s.TechniqueCreate) -> None:
    snap = w.snap
    if w.slug_ever_used(TECHNIQUE_VERSIONS, body.id):
        raise Conflict(
            f"The id {body.id!r} is or was used by a technique; ids are never reused. "
            "Choose another id, or revert the revision that retired it.",
        )
    aliases = _clean_aliases(body.aliases, body.id)
    _check_technique_spellings(snap, None, [body.id, *aliases])
    fields = body.model_dump(mode="json", exclude={"id"}) | {
        "aliases": aliases,
        "parent": _parent(snap, body.parent, body.id),
    }
    key = w.new_entity(TECHNIQUES)
    w.put_technique(key, body.id, fields, replace=False)
    w.record("create", "technique", body.id, None, fields)


def _aliases_after_rename(
    w: Writer, kind: str, old_id: str, new_id: str, aliases: list[str], owner_of_new: bool
) -> list[str]:
    """The aliases after a possible rename: the old id stays as an alias so clients keep working.

    `owner_of_new` says the new id already names this same entity (renaming back to an alias).
    """
    if new_id != old_id:
        table = TECHNIQUE_VERSIONS if kind == "technique" else SCENARIO_VERSIONS
        if w.slug_ever_used(table, new_id) and not owner_of_new:
            raise Conflict(f"The id {new_id!r} is or was used by a {kind}; ids are never reused.")
        aliases = [*aliases, old_id]
    return _clean_aliases(aliases, new_id)


def _record_update(
    w: Writer, kind: str, old_id: str, new_id: str, before: dict[str, Any], after: dict[str, Any]
) -> bool:
    """Record the fields that changed (and the id, if renamed); False when nothing did."""
    changed_before, changed_after = _diff(before, after)
    if new_id != old_id:
        changed_before["id"], changed_after["id"] = old_id, new_id
    if changed_after:
        w.record("update", kind, old_id, changed_before, changed_after)
    return bool(changed_after)


def update_technique(w: Writer, value: str, body: s.TechniqueUpdate) -> None:
    snap = w.snap
    t = catalog.technique(snap, value)
    before = technique_fields(t)
    given = body.model_dump(mode="json", exclude_unset=True)
    new_id = given.pop("id", None) or t.id
    after = before | given
    if "parent" in given:
        after["parent"] = _parent(snap, given["parent"], t.id)
    after["aliases"] = _aliases_after_rename(
        w, "technique", t.id, new_id, after["aliases"], snap.find_technique(new_id) == t
    )
    _check_technique_spellings(snap, t.id, [new_id, *after["aliases"]])
    if _record_update(w, "technique", t.id, new_id, before, after):
        w.put_technique(t.key, new_id, after, replace=True)


def retire_technique(w: Writer, value: str) -> None:
    snap = w.snap
    t = catalog.technique(snap, value)
    children = [c.id for c in snap.techniques.values() if c.parent == t.id]
    if children:
        raise Conflict(
            f"{t.id!r} is the parent of {', '.join(children)}; change their parent first.",
            children=children,
        )
    w.retire_technique_rows(t.key)
    w.record("retire", "technique", t.id, technique_fields(t), None)
    column = snap.cells.column(t.id)
    for sc in snap.scenarios.values():  # the diff lists cells in display order
        if (cell := column.get(sc.id)) is not None:
            w.record("retire", "cell", f"{sc.id}/{t.id}", _cell_fields(cell), None)
    for pair in snap.pairs.values():
        if t.id in (pair.a, pair.b):
            w.record("retire", "pair", f"{pair.a}+{pair.b}", pair_fields(pair), None)


def pair_fields(pair: PairData) -> dict[str, Any]:
    return {k: v for k, v in compat.pair_fields(pair).items() if k not in ("a", "b")}


def set_pair(w: Writer, a_value: str, b_value: str, body: PairWrite) -> None:
    """Set what is known about combining two techniques (one fact per unordered pair)."""
    a = catalog.technique(w.snap, a_value)
    b = catalog.technique(w.snap, b_value)
    if a.id == b.id:
        raise InvalidInput(
            "A pair needs two different techniques.",
            errors=[{"location": "path", "message": f"{a.id!r} twice"}],
        )
    after = body.model_dump(mode="json")
    for field in ("versions", "recommended_versions"):
        for library, specifier in after[field].items():
            try:
                SpecifierSet(specifier)
            except InvalidSpecifier:
                raise InvalidInput(
                    f"{specifier!r} for {library} is not a PEP 440 version specifier.",
                    errors=[{
                        "location": f"body.{field}.{library}",
                        "message": "not a PEP 440 specifier, e.g. >=0.10.0",
                        "input": specifier,
                    }],
                ) from None  # fmt: skip
        after[field] = {normalize_name(k): v.strip() for k, v in after[field].items()}
    after["requirements"] = _requirements(after["requirements"])
    first, second = (a, b) if a.key < b.key else (b, a)
    ident = f"{first.id}+{second.id}"
    current = w.snap.pairs.get(pair_key(a.id, b.id))
    if current is None:
        w.put_pair(a.key, b.key, after)
        w.record("create", "pair", ident, None, after)
        return
    changed_before, changed_after = _diff(pair_fields(current), after)
    if changed_after:
        w.put_pair(a.key, b.key, after)
        w.record("update", "pair", ident, changed_before, changed_after)


def _requirements(given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored form of a pair's requirements (only the operator given), each checked."""
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(given):
        try:
            stored.append(requirement_fields(requirement_from(item)))
        except ValueError as exc:
            raise InvalidInput(
                f"Requirement {index} is not valid: {exc}.",
                errors=[{
                    "location": f"body.requirements.{index}.setting",
                    "message": str(exc),
                    "input": item.get("setting"),
                    "allowed": sorted(SETTINGS),
                }],
            ) from None  # fmt: skip
    return stored


def create_scenario(w: Writer, body: s.ScenarioCreate) -> None:
    snap = w.snap
    if w.slug_ever_used(SCENARIO_VERSIONS, body.id):
        raise Conflict(
            f"The id {body.id!r} is or was used by a scenario; ids are never reused.",
        )
    aliases = _clean_aliases(body.aliases, body.id)
    _check_scenario_spellings(snap, None, [body.id, body.title, *aliases])
    fields = body.model_dump(mode="json", exclude={"id"}) | {"aliases": aliases}
    key = w.new_entity(SCENARIOS)
    w.put_scenario(key, body.id, fields, replace=False)
    w.record("create", "scenario", body.id, None, fields)


def update_scenario(w: Writer, value: str, body: s.ScenarioUpdate) -> None:
    snap = w.snap
    sc = catalog.scenario(snap, value)
    before = scenario_fields(sc)
    given = body.model_dump(mode="json", exclude_unset=True)
    new_id = given.pop("id", None) or sc.id
    after = before | given
    after["aliases"] = _aliases_after_rename(
        w, "scenario", sc.id, new_id, after["aliases"], snap.find_scenario(new_id) == sc
    )
    _check_scenario_spellings(snap, sc.id, [new_id, after["title"], *after["aliases"]])
    if _record_update(w, "scenario", sc.id, new_id, before, after):
        w.put_scenario(sc.key, new_id, after, replace=True)


def retire_scenario(w: Writer, value: str) -> None:
    snap = w.snap
    sc = catalog.scenario(snap, value)
    w.retire_scenario_rows(sc.key)
    w.record("retire", "scenario", sc.id, scenario_fields(sc), None)
    for technique_id, cell in snap.cells.row(sc.id).items():
        w.record("retire", "cell", f"{sc.id}/{technique_id}", _cell_fields(cell), None)


def _cell_fields(cell: CellData) -> dict[str, Any]:
    return {"support": cell.support, "note": cell.note, "sources": list(cell.sources)}


def set_cell(w: Writer, scenario_value: str, technique_value: str, body: s.CellWrite) -> None:
    sc = catalog.scenario(w.snap, scenario_value)
    t = catalog.technique(w.snap, technique_value)
    current = w.snap.cells.get(sc.id, t.id)
    w.put_cells(_cell_change(w, sc.id, t, body.model_dump(mode="json"), current))


def _cell_change(
    w: Writer, scenario_id: str, t: TechniqueData, after: dict[str, Any], current: CellData | None
) -> list[tuple[int, int, dict[str, Any]]]:
    """Record the change to one cell; the version row to write, if anything changed."""
    ident = f"{scenario_id}/{t.id}"
    row = (w.snap.scenarios[scenario_id].key, t.key, after)
    if current is None:
        if after == UNSET_CELL:
            return []  # a cell never set already reads as this
        w.record("create", "cell", ident, None, after)
        return [row]
    changed_before, changed_after = _diff(_cell_fields(current), after)
    if not changed_after:
        return []
    w.record("update", "cell", ident, changed_before, changed_after)
    return [row]


def apply_cells(w: Writer, edits: Sequence[CellEdit]) -> None:
    """Apply bulk edits; any unknown id or duplicate fails the whole write with every bad row.

    The current cells are read one query per 450 rows touched (from memory when the snapshot
    packs them), keeping only the cells edited, and the versions are closed and written in two
    batched statements, so a bulk edit costs about what it changes.
    """
    snap = w.snap
    errors: list[RowError] = []
    resolved: list[tuple[CellEdit, str, TechniqueData]] = []
    seen: dict[tuple[str, str], int] = {}
    # A body names few scenarios and techniques many times over: each spelling looked up once.
    find_scenario = functools.cache(snap.find_scenario)
    find_technique = functools.cache(snap.find_technique)
    for edit in edits:
        sc = find_scenario(edit.scenario)
        t = find_technique(edit.technique)
        if sc is None:
            errors.append(_unknown(edit.row, "scenario", edit.scenario, list(snap.scenarios)))
        if t is None:
            errors.append(_unknown(edit.row, "technique", edit.technique, list(snap.techniques)))
        if sc is None or t is None:
            continue
        key = (sc.id, t.id)
        if key in seen:
            errors.append(
                RowError(
                    edit.row,
                    "cell",
                    f"{sc.id}/{t.id} was already set on row {seen[key]}.",
                    value=f"{edit.scenario}/{edit.technique}",
                )
            )
            continue
        seen[key] = edit.row
        resolved.append((edit, sc.id, t))
    if errors:
        raise bulk_problem(errors)
    existing = snap.cells.pick((scenario_id, t.id) for _, scenario_id, t in resolved)
    rows: list[tuple[int, int, dict[str, Any]]] = []
    absent: set[tuple[int, int]] = set()  # never set: no version to close
    for edit, scenario_id, t in resolved:
        current = existing.get((scenario_id, t.id))
        if current is None:
            absent.add((snap.scenarios[scenario_id].key, t.key))
        after = {
            "support": edit.support,
            "note": edit.note if edit.note is not None else (current.note if current else ""),
            "sources": list(edit.sources)
            if edit.sources is not None
            else (list(current.sources) if current else []),
        }
        rows.extend(_cell_change(w, scenario_id, t, after, current))
    w.put_cells(rows, absent)


def _unknown(row: int, field: str, value: str, allowed: list[str]) -> RowError:
    guess = closest(value, allowed)
    hint = f" Did you mean {guess!r}?" if guess else ""
    return RowError(row, field, f"Unknown {field} {value!r}.{hint}", tuple(allowed), value)


def bulk_problem(errors: Sequence[RowError]) -> InvalidInput:
    """A 422 listing every bad row: where, what, and what is allowed there."""
    return InvalidInput(
        f"{len(errors)} row(s) are invalid; nothing was changed.",
        errors=[
            {
                "row": e.row,
                "location": e.field,
                "message": e.message,
                **({"allowed": list(e.allowed)} if e.allowed else {}),
                **({"input": e.value} if e.value is not None else {}),
            }
            for e in errors
        ],
    )
