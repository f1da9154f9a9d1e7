"""Reverting a revision: a new revision that applies the inverse of an old one's diff.

A revert only applies when everything the old revision touched still reads as that revision
left it; otherwise it is a 409 listing what changed since, and the curator reverts the later
revisions first or edits by hand.
"""

from __future__ import annotations

from typing import Any

from service.admin.entities import entity_fields
from service.admin.service import pair_fields
from service.admin.writer import (
    SCENARIO_VERSIONS,
    TECHNIQUE_VERSIONS,
    Writer,
    scenario_fields,
    technique_fields,
)
from service.errors import Conflict, NotFound
from service.history import service as history
from service.offerings.service import KINDS as ENTITY_KINDS
from service.snapshot import CellData, CellKey, pair_key

CellChange = tuple[int, int, dict[str, Any] | None]
"""A cell to write back: scenario key, technique key, its fields (None: remove it)."""


def _cells_of(w: Writer, diff: list[dict[str, Any]]) -> dict[CellKey, CellData]:
    """The current content of every cell the diff touches, read at once (not cell by cell)."""
    touched = [c["id"].partition("/") for c in diff if c["kind"] == "cell"]
    return w.snap.cells.pick((s, t) for s, _, t in touched) if touched else {}


def _current(
    w: Writer, kind: str, ident: str, cells: dict[CellKey, CellData]
) -> dict[str, Any] | None:
    snap = w.snap
    if kind in ENTITY_KINDS:
        return entity_fields(w, kind, ident)
    if kind == "technique":
        t = snap.techniques.get(ident)
        return technique_fields(t) if t else None
    if kind == "scenario":
        sc = snap.scenarios.get(ident)
        return scenario_fields(sc) if sc else None
    if kind == "pair":
        a, _, b = ident.partition("+")
        pair = snap.pairs.get(pair_key(a, b))
        return pair_fields(pair) if pair else None
    scenario_id, _, technique_id = ident.partition("/")
    cell = cells.get((scenario_id, technique_id))
    if cell is None:
        return None
    return {"support": cell.support, "note": cell.note, "sources": list(cell.sources)}


def _still_as_left(w: Writer, change: dict[str, Any], cells: dict[CellKey, CellData]) -> bool:
    op, kind, after = change["op"], change["kind"], change["after"]
    ident = change["id"]
    if op == "update" and "id" in after:
        ident = after["id"]
    current = _current(w, kind, ident, cells)
    if op == "retire":
        return current is None
    if current is None:
        return False
    return all(current.get(k) == v for k, v in after.items() if k != "id")


def _key(w: Writer, kind: str, slug: str, number: int) -> int:
    keys = w.technique_keys if kind == "technique" else w.scenario_keys
    if slug in keys:
        return keys[slug]
    table = TECHNIQUE_VERSIONS if kind == "technique" else SCENARIO_VERSIONS
    column = "technique_id" if kind == "technique" else "scenario_id"
    found = w.retired_key(table, column, slug, number)
    if found is None:
        raise Conflict(f"The {kind} {slug!r} of this revision no longer exists.")
    return found


def revert(w: Writer, number: int, diff: list[dict[str, Any]]) -> None:
    """Apply the inverse of revision `number`'s `diff` through `w`.

    The cells it touches are read in one query per 450 rows (keeping only those touched) and
    written back in two batched statements, so reverting a bulk edit costs about what the edit did.
    """
    cells = _cells_of(w, diff)
    conflicts = [f"{c['kind']} {c['id']}" for c in diff if not _still_as_left(w, c, cells)]
    if conflicts:
        raise Conflict(
            f"Revision {number} cannot be reverted: {len(conflicts)} of its changes were "
            "changed again since. Revert the later revisions first.",
            conflicts=conflicts[:100],
        )
    # Entities first (restored ones are needed by their cells and pairs), in reverse order.
    ordered = [c for c in reversed(diff) if c["kind"] not in ("cell", "pair")] + [
        c for c in reversed(diff) if c["kind"] in ("cell", "pair")
    ]
    cell_rows: dict[tuple[int, int], CellChange] = {}
    for change in ordered:
        _undo(w, number, change, cells, cell_rows)
    w.put_cells(list(cell_rows.values()))


def _undo(
    w: Writer,
    number: int,
    change: dict[str, Any],
    cells: dict[CellKey, CellData],
    cell_rows: dict[tuple[int, int], CellChange],
) -> None:
    """Undo one change; a cell's new content is added to `cell_rows`, written by the caller."""
    op, kind, ident = change["op"], change["kind"], change["id"]
    before, after = change["before"], change["after"]
    if kind in ("cell", "pair"):
        current = _current(w, kind, ident, cells) or {}
        restored = None if op == "create" else current | before
        if kind == "cell":
            scenario_id, _, technique_id = ident.partition("/")
            keys = (
                _key(w, "scenario", scenario_id, number),
                _key(w, "technique", technique_id, number),
            )
            cell_rows[keys] = (*keys, restored)
        else:
            a, _, b = ident.partition("+")
            w.put_pair(_key(w, "technique", a, number), _key(w, "technique", b, number), restored)
        w.record({"create": "retire", "retire": "create"}.get(op, "update"), kind, ident,
                 after, before if restored is not None else None)  # fmt: skip
        return
    if kind in ENTITY_KINDS:
        _undo_entity(w, change)
        return
    put = w.put_technique if kind == "technique" else w.put_scenario
    retire = w.retire_technique_rows if kind == "technique" else w.retire_scenario_rows
    if op == "create":
        retire(_key(w, kind, ident, number))
        w.record("retire", kind, ident, after, None)
    elif op == "retire":
        put(_key(w, kind, ident, number), ident, before, replace=False)
        w.record("create", kind, ident, None, before)
    else:
        current_id = after.get("id", ident)
        fields = (_current(w, kind, current_id, cells) or {}) | {
            k: v for k, v in before.items() if k != "id"
        }
        put(_key(w, kind, current_id, number), before.get("id", current_id), fields, replace=True)
        w.record("update", kind, current_id, after, before)


def _undo_entity(w: Writer, change: dict[str, Any]) -> None:
    """Undo one change to a model, hardware, platform or offering. Restoring a retired one
    reuses its id: that is the one way an id comes back."""
    op, kind, ident = change["op"], change["kind"], change["id"]
    before, after = change["before"], change["after"]
    if op == "create":
        w.retire_entity(kind, ident)
        w.record("retire", kind, ident, after, None)
    elif op == "retire":
        w.put_entity(kind, ident, before, replace=False)
        w.record("create", kind, ident, None, before)
    else:
        # A field the update added reads as null before it, which reads the same as absent.
        restored = (entity_fields(w, kind, ident) or {}) | before
        w.put_entity(kind, ident, restored, replace=True)
        w.record("update", kind, ident, after, before)


def revert_revision(w: Writer, number: int) -> None:
    """Undo revision `number` in the revision `w` writes; 404 when it does not exist."""
    # The revision this write is making exists already (its row is written first): it is not
    # one that can be reverted.
    diff = history.revision_diff(w.conn, number) if number <= w.snap.revision else None
    if diff is None:
        raise NotFound(f"Revision {number} does not exist.", latest_revision=w.snap.revision)
    revert(w, number, diff)
