"""Loading a snapshot of one revision from the database, patching an older one when it can."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.models import (
    CellVersion,
    EntityVersion,
    PairVersion,
    ScenarioVersion,
    TechniqueVersion,
    table_of,
)
from service.snapshot.cells import CellIndex, valid_at
from service.snapshot.data import (
    CellData,
    CellKey,
    CellRow,
    Changed,
    EntityData,
    PairData,
    ScenarioData,
    Section,
    Snapshot,
    TechniqueData,
    pair_key,
)
from service.snapshot.held import HOLD_BYTES, HOLD_LIMIT, HeldCells, cell_bytes
from service.snapshot.packed import PackedCells, pack, patch

_TECHNIQUE_VERSIONS = table_of(TechniqueVersion)
_SCENARIO_VERSIONS = table_of(ScenarioVersion)
_PAIR_VERSIONS = table_of(PairVersion)
_ENTITY_VERSIONS = table_of(EntityVersion)
_CELL_VERSIONS = table_of(CellVersion)


def _changed_keys(
    conn: sa.Connection, table: sa.Table, key: str, after: int, upto: int
) -> set[int]:
    """Entities with a version row written or closed by a revision in (after, upto]."""
    rows = conn.execute(
        sa.select(table.c[key])
        .where(
            sa.or_(
                table.c.valid_from.between(after + 1, upto),
                table.c.valid_to.between(after + 1, upto),
            )
        )
        .distinct()
    )
    return {int(row[0]) for row in rows}


def _technique(row: sa.Row[Any], slug_by_key: Mapping[int, str]) -> TechniqueData:
    return TechniqueData(
        key=row.technique_id,
        id=row.slug,
        name=row.name,
        full_name=row.full_name,
        category=row.category,
        summary=row.summary,
        aliases=tuple(row.aliases),
        paper=row.paper,
        facts=tuple(row.facts),
        libraries=tuple(row.libraries),
        parent=slug_by_key.get(row.parent_id) if row.parent_id is not None else None,
        sources=tuple(row.sources),
        since_revision=row.valid_from,
    )


def _scenario(row: sa.Row[Any]) -> ScenarioData:
    return ScenarioData(
        key=row.scenario_id,
        id=row.slug,
        title=row.title,
        kind=row.kind,
        description=row.description,
        aliases=tuple(row.aliases),
        sources=tuple(row.sources),
        since_revision=row.valid_from,
    )


def _load_entities(
    conn: sa.Connection, at: int
) -> tuple[dict[str, TechniqueData], dict[str, ScenarioData]]:
    tv, sv = _TECHNIQUE_VERSIONS, _SCENARIO_VERSIONS
    t_rows = conn.execute(sa.select(tv).where(valid_at(tv, at)).order_by(tv.c.technique_id)).all()
    slug_by_key = {r.technique_id: r.slug for r in t_rows}
    techniques = {r.slug: _technique(r, slug_by_key) for r in t_rows}
    s_rows = conn.execute(sa.select(sv).where(valid_at(sv, at)).order_by(sv.c.scenario_id)).all()
    return techniques, {r.slug: _scenario(r) for r in s_rows}


PATCH_LIMIT = 256
"""More techniques and scenarios changed than this since the previous snapshot: reload them all."""


def _patched_entities(
    conn: sa.Connection, previous: Snapshot, at: int
) -> tuple[dict[str, TechniqueData], dict[str, ScenarioData]] | None:
    """The previous snapshot's techniques and scenarios with the ones changed since replaced;
    the very same dicts when none changed; None when a full reload is simpler or needed."""
    tv, sv = _TECHNIQUE_VERSIONS, _SCENARIO_VERSIONS
    changed_t = _changed_keys(conn, tv, "technique_id", previous.revision, at)
    changed_s = _changed_keys(conn, sv, "scenario_id", previous.revision, at)
    if not changed_t and not changed_s:
        return previous.techniques, previous.scenarios
    if len(changed_t) + len(changed_s) > PATCH_LIMIT:
        return None
    techniques = previous.techniques
    if changed_t:
        rows = {
            r.technique_id: r
            for r in conn.execute(
                sa.select(tv).where(valid_at(tv, at), tv.c.technique_id.in_(changed_t))
            )
        }
        kept = {t.key: t for t in previous.techniques.values() if t.key not in changed_t}
        # A technique kept as it was names its parent by id: if that parent was renamed or
        # retired, the kept technique changes too, so reload everything instead.
        gone = {t.id for t in previous.techniques.values() if t.key in changed_t} - {
            r.slug for r in rows.values()
        }
        if any(t.parent in gone for t in kept.values()):
            return None
        slug_by_key = {k: t.id for k, t in kept.items()} | {k: r.slug for k, r in rows.items()}
        by_key = kept | {k: _technique(r, slug_by_key) for k, r in rows.items()}
        techniques = {by_key[k].id: by_key[k] for k in sorted(by_key)}
    scenarios = previous.scenarios
    if changed_s:
        s_rows = conn.execute(
            sa.select(sv).where(valid_at(sv, at), sv.c.scenario_id.in_(changed_s))
        )
        s_by_key = {sc.key: sc for sc in previous.scenarios.values() if sc.key not in changed_s}
        s_by_key |= {r.scenario_id: _scenario(r) for r in s_rows}
        scenarios = {s_by_key[k].id: s_by_key[k] for k in sorted(s_by_key)}
    return techniques, scenarios


def _load_pairs(
    conn: sa.Connection, at: int, techniques: Mapping[str, TechniqueData]
) -> dict[tuple[str, str], PairData]:
    pv = table_of(PairVersion)
    slug_by_key = {t.key: t.id for t in techniques.values()}
    pairs: dict[tuple[str, str], PairData] = {}
    for r in conn.execute(
        sa.select(pv).where(valid_at(pv, at)).order_by(pv.c.low_id, pv.c.high_id)
    ).all():
        a, b = slug_by_key.get(r.low_id), slug_by_key.get(r.high_id)
        if a is None or b is None:
            continue  # a pair with a retired technique is history
        pairs[pair_key(a, b)] = PairData(
            a=a,
            b=b,
            verdict=r.verdict,
            note=r.note,
            caveats=tuple(r.caveats),
            settings=tuple(r.settings),
            versions=dict(r.versions),
            recommended_versions=dict(r.recommended_versions),
            since=r.since,
            confidence=r.confidence,
            sources=tuple(r.sources),
            since_revision=r.valid_from,
            requirements=tuple(r.requirements or ()),
        )
    return pairs


def _load_others(conn: sa.Connection, at: int) -> dict[str, dict[str, EntityData]]:
    """Models, hardware, platforms and offerings valid at `at` (hundreds at most: all of them
    are read whenever one changed)."""
    ev = _ENTITY_VERSIONS
    entities: dict[str, dict[str, EntityData]] = {}
    for r in conn.execute(
        sa.select(ev).where(valid_at(ev, at)).order_by(ev.c.kind, ev.c.slug)
    ).all():
        entities.setdefault(r.kind, {})[r.slug] = EntityData(r.kind, r.slug, r.data, r.valid_from)
    return entities


def _others_changed(conn: sa.Connection, after: int, upto: int) -> bool:
    ev = _ENTITY_VERSIONS
    found = conn.execute(
        sa.select(ev.c.id)
        .where(
            sa.or_(ev.c.valid_from.between(after + 1, upto), ev.c.valid_to.between(after + 1, upto))
        )
        .limit(1)
    ).first()
    return found is not None


def _size_upto(conn: sa.Connection, revision: int, limit: int) -> tuple[int, int]:
    """(cells, characters of their notes) valid at `revision`, counted over `limit + 1` cells
    at most: a large catalog costs a bounded walk, not a count of all its cells."""
    cv = _CELL_VERSIONS
    some = sa.select(cv.c.note).where(valid_at(cv, revision)).limit(limit + 1).subquery()
    count, chars = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.length(some.c.note)), 0))
    ).one()
    return int(count), int(chars)


def _changed_cell_rows(
    conn: sa.Connection, index: CellIndex, after: int, limit: int | None = None
) -> Sequence[Any]:
    """The cell version rows that the revisions after `after` up to `index.revision` wrote or
    closed (at most `limit`), as `index.statement()` selects them plus `valid_to`."""
    cv, upto = _CELL_VERSIONS, index.revision
    statement = sa.select(*index.statement().selected_columns, cv.c.valid_to).where(
        sa.or_(cv.c.valid_from.between(after + 1, upto), cv.c.valid_to.between(after + 1, upto))
    )
    return conn.execute(statement if limit is None else statement.limit(limit)).all()


def _patched_cells(
    conn: sa.Connection, index: CellIndex, held: HeldCells, after: int, limit: int
) -> tuple[dict[CellKey, CellData], bool] | None:
    """The cells of `held` (valid at `after`) with those that the revisions up to
    `index.revision` wrote or closed read again, and whether there were any; None when more
    rows changed than patching is worth (or there would be more than `limit` cells)."""
    upto = index.revision
    # A cell is at most two rows per revision that touches it (the one closed, the one written).
    most = 2 * limit + 1
    rows = _changed_cell_rows(conn, index, after, most + 1)
    if len(rows) > most:
        return None
    if not rows:
        return held.cells, False
    touched: set[CellKey] = set()
    now: dict[CellKey, CellData] = {}
    for row in rows:
        for cell in index.decode((row,)):
            key = (cell.scenario, cell.technique)
            touched.add(key)
            # Rows were selected by revisions in (after, upto]: one still open at `upto` is
            # the cell's content then; a key whose rows all closed was removed.
            if row.valid_to is None or row.valid_to > upto:
                now[key] = cell
    cells = dict(held.cells)
    added = False
    for key in touched:
        if key in now:
            added = added or key not in cells
            cells[key] = now[key]
        else:
            cells.pop(key, None)
    if len(cells) > limit:
        return None
    if added:  # a new cell takes its place in display order
        s_key, t_key = index.scenario_keys, index.technique_keys
        cells = {key: cells[key] for key in sorted(cells, key=lambda k: (s_key[k[0]], t_key[k[1]]))}
    return cells, True


def _held_cells(
    conn: sa.Connection, index: CellIndex, previous: Snapshot | None, limit: int
) -> tuple[HeldCells | None, bool]:
    """Every cell of `index.revision` in memory when there are at most `limit` and they fit
    in `HOLD_BYTES`, else None; and True when they are known to be `previous`'s cells (no
    revision since wrote or closed one).

    From `previous` when it held its cells and shares this revision's techniques and
    scenarios: only the cells written since are read. Otherwise a bounded count decides, and
    the cells are read in one query.
    """
    if limit <= 0:
        return None, False
    techniques, scenarios = index.techniques, index.scenarios
    earlier = previous.cells.held if previous is not None else None
    if (
        previous is not None
        and earlier is not None
        and previous.techniques is techniques
        and previous.scenarios is scenarios
    ):
        patched = _patched_cells(conn, index, earlier, previous.revision, limit)
        if patched is not None:
            cells, touched = patched
            held = HeldCells(cells, techniques, scenarios)
            return (held if held.weight <= HOLD_BYTES else None), not touched
    count, chars = _size_upto(conn, index.revision, limit)
    if count > limit or cell_bytes(count, chars) > HOLD_BYTES:
        return None, False
    return HeldCells(index.read_all(conn), techniques, scenarios), False


def _packed_cells(
    conn: sa.Connection, index: CellIndex, previous: Snapshot | None, limit: int, newest: bool
) -> tuple[PackedCells | None, bool]:
    """The cells of `index.revision` packed (`service.snapshot.packed`), or None; and True when
    they are known to be `previous`'s cells.

    Patched from `previous` when it packed its cells (the version rows the revisions since
    wrote or closed are read); else packed from all the cells, only for the newest revision
    (an `at=` read of an older one must not read the whole catalog) and at most `limit`.
    """
    techniques, scenarios = index.techniques, index.scenarios
    earlier = previous.cells.packed if previous is not None else None
    if previous is not None and earlier is not None:
        rows = _changed_cell_rows(conn, index, previous.revision)
        patched = patch(earlier, rows, index.revision, techniques, scenarios)
        return (patched if len(patched) <= limit else None), not rows
    if not newest:
        return None, False
    count, _ = _size_upto(conn, index.revision, limit)
    if count > limit:
        return None, False
    return pack(conn.execute(index.statement()), techniques, scenarios), False


def load_snapshot(
    conn: sa.Connection,
    engine: Engine,
    revision: int,
    previous: Snapshot | None = None,
    hold_limit: int = HOLD_LIMIT,
    pack_limit: int = 0,
    newest: bool = False,
) -> Snapshot:
    """Read the techniques, scenarios and pairs valid at `revision`; cells stay in the database
    unless there are at most `hold_limit` of them (then they are held in memory).

    With `previous` (an older snapshot), only what the revisions since it changed is read: a
    write that touches cells costs the next read a few indexed probes, one that changes a few
    techniques or scenarios the reading of those, not of the whole catalog; held cells are
    patched with the cells those revisions wrote.

    A catalog too large to hold packs its cells instead, up to `pack_limit` of them (0: never),
    when `revision` is loaded as the newest one or is patched from a packed `previous`.
    """
    reuse = previous if previous is not None and previous.revision < revision else None
    patched = _patched_entities(conn, reuse, revision) if reuse is not None else None
    techniques, scenarios = patched or _load_entities(conn, revision)
    kept = reuse is not None and techniques is reuse.techniques and scenarios is reuse.scenarios
    if (
        reuse is not None
        and techniques is reuse.techniques
        and not _changed_keys(conn, _PAIR_VERSIONS, "low_id", reuse.revision, revision)
    ):
        pairs = reuse.pairs
    else:
        pairs = _load_pairs(conn, revision, techniques)
    if reuse is not None and not _others_changed(conn, reuse.revision, revision):
        entities = reuse.entities
    else:
        entities = _load_others(conn, revision)
    shared: dict[str, Any] = {}
    if kept and reuse is not None:
        shared = {
            "technique_lookup": reuse.technique_lookup,
            "scenario_lookup": reuse.scenario_lookup,
            "entity_cache": reuse.entity_cache,
        }
    cells = CellIndex(engine, revision, techniques, scenarios)
    cells.held, same_cells = _held_cells(conn, cells, reuse, hold_limit)
    if cells.held is None and pack_limit > 0:
        cells.packed, same_cells = _packed_cells(conn, cells, reuse, pack_limit, newest)
    changed = None
    if reuse is not None:
        sections = {
            Section.TECHNIQUES: techniques is not reuse.techniques,
            Section.SCENARIOS: scenarios is not reuse.scenarios,
            Section.PAIRS: pairs is not reuse.pairs,
            Section.ENTITIES: entities is not reuse.entities,
            Section.CELLS: not same_cells,
        }
        changed = Changed(reuse.revision, frozenset(s for s, moved in sections.items() if moved))
    return Snapshot(
        revision=revision,
        techniques=techniques,
        scenarios=scenarios,
        cells=cells,
        pairs=pairs,
        entities=entities,
        changed=changed,
        **shared,
    )


def followed_snapshot(
    engine: Engine,
    previous: Snapshot,
    revision: int,
    rows: Sequence[CellRow],
    hold_limit: int = HOLD_LIMIT,
    pack_limit: int = 0,
) -> Snapshot | None:
    """The snapshot of `revision`, which the caller committed on top of `previous` by writing
    these cell version rows and nothing else, built without reading it back: `previous`'s
    techniques, scenarios, pairs and models, and its packed cells patched with `rows`, which
    patch them as the rows `load_snapshot` would read do (`Writer.cell_rows`).

    None when `previous` does not pack its cells, is not the revision just before, or the
    cells written would take the revision out of packing (past `pack_limit`, or down to what
    `hold_limit` holds): `load_snapshot` then decides as for any revision.
    """
    earlier = previous.cells.packed
    if earlier is None or revision != previous.revision + 1:
        return None
    techniques, scenarios = previous.techniques, previous.scenarios
    packed = patch(earlier, rows, revision, techniques, scenarios)
    if not hold_limit < len(packed) <= pack_limit:
        return None
    cells = CellIndex(engine, revision, techniques, scenarios)
    cells.packed = packed
    return Snapshot(
        revision=revision,
        techniques=techniques,
        scenarios=scenarios,
        cells=cells,
        pairs=previous.pairs,
        entities=previous.entities,
        technique_lookup=previous.technique_lookup,
        scenario_lookup=previous.scenario_lookup,
        entity_cache=previous.entity_cache,
        changed=Changed(previous.revision, frozenset({Section.CELLS} if rows else ())),
    )
