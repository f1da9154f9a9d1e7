"""Curators' writes of models, hardware, platforms and offerings, each through a `Writer`.

A PUT creates the entity or replaces it whole; a DELETE retires it. Ids are never reused: an id
that was ever retired can come back only by reverting the revision that retired it. References
are checked against the current data, so an offering never names a platform, model, hardware
or technique that does not exist, and an entity an offering names cannot be retired from under
it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from service.admin.writer import Writer
from service.errors import Conflict, InvalidInput, closest
from service.offerings import schemas as s
from service.offerings import service as offerings

EntityWrite = s.ModelWrite | s.HardwareWrite | s.PlatformWrite | s.OfferingWrite
KIND_OF: dict[type[EntityWrite], str] = {
    s.ModelWrite: "model",
    s.HardwareWrite: "hardware",
    s.PlatformWrite: "platform",
    s.OfferingWrite: "offering",
}

WRITE_OF = {kind: cls for cls, kind in KIND_OF.items()}


def entity_fields(w: Writer, kind: str, slug: str) -> dict[str, Any] | None:
    """The stored fields of the current entity (kind, slug), or None when there is none."""
    found = offerings.entities(w.snap, kind).get(slug)
    return dict(found.data) if found is not None else None


def _stored(body: EntityWrite) -> dict[str, Any]:
    """The JSON stored for an entity: every field, defaults included, by wire name."""
    return body.model_dump(mode="json", by_alias=True)


def _unknown(location: str, kind: str, value: str, allowed: Sequence[str]) -> dict[str, Any]:
    return {
        "location": location,
        "message": f"unknown {kind}",
        "input": value,
        "allowed": list(allowed),
        **({"did_you_mean": guess} if (guess := closest(value, allowed)) else {}),
    }


def _check_references(w: Writer, data: dict[str, Any]) -> None:
    """422 listing every reference of an offering that names nothing current."""
    snap = w.snap
    errors: list[dict[str, Any]] = []
    platforms = list(offerings.entities(snap, "platform"))
    if data["platform"] is not None and data["platform"] not in platforms:
        errors.append(_unknown("body.platform", "platform", data["platform"], platforms))
    models = list(offerings.entities(snap, "model"))
    for index, entry in enumerate(data["models"]):
        if entry["model"] not in models:
            where = f"body.models.{index}.model"
            errors.append(_unknown(where, "model", entry["model"], models))
    hardware = list(offerings.entities(snap, "hardware"))
    for index, entry in enumerate(data["hardware"]):
        if entry["hardware"] is not None and entry["hardware"] not in hardware:
            where = f"body.hardware.{index}.hardware"
            errors.append(_unknown(where, "hardware", entry["hardware"], hardware))
    known = offerings.technique_ids(snap)
    for index, entry in enumerate(data["techniques"]):
        found = known.get(entry["technique"].casefold()) or known.get(entry["technique"])
        if found is None:
            where = f"body.techniques.{index}.technique"
            errors.append(
                _unknown(where, "technique", entry["technique"], sorted(set(known.values())))
            )
        else:
            entry["technique"] = found  # stored by id, as reads and /v1/where compare them
    if errors:
        first = errors[0]
        raise InvalidInput(
            f"{len(errors)} reference(s) name nothing current; nothing was changed. "
            f"First: {first['location']} = {first['input']!r}.",
            errors=errors,
        )


def _check_spellings(w: Writer, kind: str, slug: str, spellings: Iterable[str]) -> None:
    """409 when the id or an alias already names another entity of the same kind."""
    taken = offerings.spellings(w.snap, kind)
    for spelling in spellings:
        holder = taken.get(spelling.casefold())
        if holder is not None and holder != slug:
            raise Conflict(
                f"{spelling!r} already names the {kind} {holder!r}; ids and aliases are unique.",
                conflicting=holder,
            )


def put_entity(w: Writer, slug: str, body: EntityWrite) -> None:
    """Create entity `slug` of the body's kind, or replace the current one whole."""
    kind = KIND_OF[type(body)]
    data = _stored(body)
    if kind == "offering":
        _check_references(w, data)
    _check_spellings(w, kind, slug, [slug, *data.get("aliases", ())])
    stored = entity_fields(w, kind, slug)
    if stored is None:
        if w.entity_slug_ever_used(kind, slug):
            raise Conflict(
                f"The id {slug!r} was used by a {kind} that was retired; ids are never reused. "
                "Choose another id, or revert the revision that retired it.",
            )
        w.put_entity(kind, slug, data, replace=False)
        w.record("create", kind, slug, None, data)
        return
    # Seeded rows leave out fields at their defaults; compare both in the one stored form, so
    # a PUT of what a read returned changes nothing.
    before = _stored(type(body).model_validate(stored))
    keys = [k for k in {**before, **data} if before.get(k) != data.get(k)]
    if keys:
        w.put_entity(kind, slug, data, replace=True)
        w.record(
            "update",
            kind,
            slug,
            {k: before.get(k) for k in keys},
            {k: data.get(k) for k in keys},
        )


def _referenced_by(w: Writer, kind: str, slug: str) -> list[str]:
    """The current offerings that name entity (kind, slug)."""
    named: list[str] = []
    for o in offerings.entities(w.snap, "offering").values():
        refs = {
            "platform": [o.data.get("platform")],
            "model": [m["model"] for m in o.data.get("models", ())],
            "hardware": [h.get("hardware") for h in o.data.get("hardware", ())],
        }.get(kind, [])
        if slug in refs:
            named.append(o.id)
    return named


def retire_entity(w: Writer, kind: str, value: str) -> None:
    """Retire the entity of `kind` named `value` (id or alias): reads stop showing it, its
    history stays, and its id stays taken. 409 while a current offering names it."""
    found = offerings.get(w.snap, kind, value)
    users = _referenced_by(w, kind, found.id)
    if users:
        raise Conflict(
            f"The {kind} {found.id!r} is named by the offerings {', '.join(users)}; "
            "change or retire them first.",
            referenced_by=users,
        )
    w.retire_entity(kind, found.id)
    before = _stored(WRITE_OF[kind].model_validate(dict(found.data)))
    w.record("retire", kind, found.id, before, None)
