"""The data as of one revision: techniques, scenarios and pairs in memory, cells by index.

Past revisions never change, so a snapshot of revision N is valid forever; only "which revision
is current" has to be checked per request. Techniques, scenarios and pairs (thousands at most)
are loaded once per revision into plain immutable objects. Cells (up to their product, a million
and more) stay in the database: `CellIndex` reads the cells a request needs, valid at N, through
indexes, so a read costs what it returns rather than what the catalog holds. A small catalog's
cells are held in memory instead (`HeldCells`, up to `HOLD_LIMIT`), so reading them costs no
query. A larger catalog's newest revision packs its cells (`PackedCells`, a few bytes a cell,
up to `PACK_LIMIT`) for rows, columns and single cells; and documents rendered from a revision
are kept as bytes (`PreparedBytes`).
"""

from service.snapshot.cells import CellIndex
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
from service.snapshot.held import HOLD_LIMIT, HeldCells
from service.snapshot.load import PATCH_LIMIT, load_snapshot
from service.snapshot.packed import PACK_LIMIT, PackedCells
from service.snapshot.prepared import PreparedBytes
from service.snapshot.store import SnapshotStore

__all__ = [
    "HOLD_LIMIT",
    "PACK_LIMIT",
    "PATCH_LIMIT",
    "CellData",
    "CellIndex",
    "CellKey",
    "CellRow",
    "Changed",
    "EntityData",
    "HeldCells",
    "PackedCells",
    "PairData",
    "PreparedBytes",
    "ScenarioData",
    "Section",
    "Snapshot",
    "SnapshotStore",
    "TechniqueData",
    "load_snapshot",
    "pair_key",
]
