"""Estimator inputs from the catalog's data: a model's shape, a GPU's memory, looked up by name.

The catalog stores models and hardware as plain mappings (the `models` and `hardware` lists of
the snapshot document, `GET /v1/export`, or `Snapshot.entities`). These functions read those
mappings only, so the API, the offline CLI and the check all derive the same inputs from the
same data. A model's `architecture` is present only where a published configuration was read;
nothing here invents one: a model without it raises `EstimateError` saying what to give instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.estimates.errors import EstimateError
from service.estimates.inputs import Model, ModelShape

Entity = Mapping[str, Any]
"""One model or hardware record as the snapshot document holds it (with its `id`)."""


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A catalog model as the estimator takes it, and what its data leaves uncertain."""

    id: str
    model: Model
    notes: tuple[str, ...]
    """Assumptions made because the data is silent or unsure (shown beside the figures)."""
    sources: tuple[str, ...]
    """Where the shape comes from, as the data cites it."""


def lookup(items: Iterable[Entity], value: str) -> Entity | None:
    """The record whose id, alias or name is `value` (case-insensitive; ids win), if any.

    A local path whose last part is a known name (`models/Phi-3-mini-4k-instruct`) counts too,
    as in the offering rules (`service.offerings.rules.OfferingKnowledge.model`).
    """
    records = list(items)
    spellings: dict[str, Entity] = {}
    for record in records:
        for spelling in (*record.get("aliases", ()), record.get("name") or ""):
            if spelling:
                spellings.setdefault(str(spelling).casefold(), record)
    for record in records:
        spellings[str(record["id"]).casefold()] = record
    found = spellings.get(value.casefold())
    if found is None and "/" in value:
        found = spellings.get(value.rstrip("/").rsplit("/", 1)[-1].casefold())
    return found


REQUIRED_SHAPE = ("layers", "hidden", "heads", "vocab")
"""The architecture fields `catalog_model` cannot estimate a model without."""


def catalog_model(record: Entity) -> CatalogModel:
    """The estimator's `Model` for a catalog model, from its recorded `architecture`.

    The total parameter count is derived from the shape (the data's `parameters` field is text
    such as "3.8B", not a count). `head_dim` and `qkv_bias` pass through where the data states
    them; a null `head_dim` is hidden / heads, and a null `qkv_bias` counts no q/k/v biases
    (one value per q, k and v output feature a block, too small a share to be a note). Raises
    EstimateError on field `model` when the model has no shape in the data, saying that
    `params` and `shape` can be given instead.
    """
    ident = str(record["id"])
    arch = record.get("architecture")
    if not isinstance(arch, Mapping) or any(arch.get(name) is None for name in REQUIRED_SHAPE):
        raise EstimateError(
            "model",
            f"{ident} has no architecture shape in the catalog data, so it cannot be estimated "
            "by id; give params and shape (layers, hidden, heads, kv_heads, intermediate, "
            "vocab, tied_embeddings) instead",
        )
    notes: list[str] = []
    tied = arch.get("tied_embeddings")
    if tied is None:
        notes.append(
            f"{ident}: the data does not say whether the embeddings are tied; counted as "
            "untied (a separate output layer), the larger of the two counts"
        )
    if arch.get("kv_heads") is None:
        notes.append(f"{ident}: no key/value head count in the data; counted as heads (no GQA)")
    if arch.get("confidence") in ("low", None):
        notes.append(f"{ident}: the shape is recorded with low confidence ({_note(arch)})")
    shape = ModelShape(
        layers=int(arch["layers"]),
        hidden=int(arch["hidden"]),
        heads=int(arch["heads"]),
        vocab=int(arch["vocab"]),
        kv_heads=_optional_int(arch.get("kv_heads")),
        intermediate=_optional_int(arch.get("intermediate")),
        head_dim=_optional_int(arch.get("head_dim")),
        tied_embeddings=bool(tied),
        qkv_bias=bool(arch.get("qkv_bias")),
    )
    sources = tuple(str(s) for s in arch.get("sources") or record.get("sources") or ())
    return CatalogModel(ident, Model(shape=shape, name=ident), tuple(notes), sources)


def memory_bytes(record: Entity) -> int | None:
    """The GPU memory of a hardware record in bytes, or None where the data does not state it
    (no source was read for the card) or the hardware is not a GPU."""
    value = record.get("memory_bytes")
    if record.get("kind", "gpu") != "gpu" or not isinstance(value, int) or value <= 0:
        return None
    return value


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _note(arch: Mapping[str, Any]) -> str:
    note = arch.get("note")
    return str(note).rstrip(".") if note else "no note"
