"""Reads of models, hardware, platforms and offerings over a snapshot, and `/v1/where`.

Everything is computed from the immutable `Snapshot` (no database access), so these functions
may run on the event loop. Look-ups accept an id or an alias (case-insensitive); an unknown one
is a 404 naming the valid ids and the closest spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from service.errors import unknown_id
from service.offerings import schemas as s
from service.snapshot import EntityData, Snapshot

KINDS = ("model", "hardware", "platform", "offering")
CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2, None: 2}
FIT_ORDER = (s.Fit.yes, s.Fit.likely, s.Fit.unconfirmed)


def entities(snap: Snapshot, kind: str) -> dict[str, EntityData]:
    """The entities of one kind valid at the snapshot's revision, by id (in id order)."""
    return snap.entities.get(kind, {})


def spellings(snap: Snapshot, kind: str) -> dict[str, str]:
    """Every accepted spelling (casefolded id, alias, name) of `kind`, mapped to its id; ids
    win over aliases and names when a spelling is ambiguous."""

    def build() -> dict[str, str]:
        items = entities(snap, kind).values()
        out: dict[str, str] = {}
        for e in items:
            for spelling in (*e.data.get("aliases", ()), e.data.get("name") or ""):
                if spelling:
                    out.setdefault(str(spelling).casefold(), e.id)
        for e in items:
            out[e.id.casefold()] = e.id
        return out

    result: dict[str, str] = snap.memo(("offerings.spellings", kind), build)
    return result


def find(snap: Snapshot, kind: str, value: str) -> EntityData | None:
    """The entity of `kind` with this id, alias or name (case-insensitive), if any."""
    ident = spellings(snap, kind).get(value.casefold())
    return entities(snap, kind)[ident] if ident is not None else None


def get(snap: Snapshot, kind: str, value: str) -> EntityData:
    """The entity of `kind` named `value`, or a 404 with the valid ids and the closest one."""
    found = find(snap, kind, value)
    if found is None:
        names = spellings(snap, kind)
        raise unknown_id(kind, value, {e: e for e in entities(snap, kind)} | names)
    return found


def _read(e: EntityData) -> dict[str, Any]:
    return {**e.data, "id": e.id, "since_revision": e.since_revision}


def model_read(e: EntityData) -> s.ModelRead:
    return s.ModelRead.model_validate(_read(e))


def hardware_read(e: EntityData) -> s.HardwareRead:
    return s.HardwareRead.model_validate(_read(e))


def platform_read(snap: Snapshot, e: EntityData) -> s.PlatformRead:
    on_it = [o.id for o in entities(snap, "offering").values() if o.data.get("platform") == e.id]
    return s.PlatformRead.model_validate(_read(e) | {"offerings": on_it})


def offering_read(e: EntityData) -> s.OfferingRead:
    return s.OfferingRead.model_validate(_read(e))


def technique_ids(snap: Snapshot) -> dict[str, str]:
    """Spellings of the techniques offerings name: the catalog's (ids and aliases) and the
    ones only offerings use (`sft`, `full`, ...), each mapped to its id."""

    def build() -> dict[str, str]:
        out = {
            t: t
            for o in entities(snap, "offering").values()
            for t in (x["technique"] for x in o.data.get("techniques", ()))
        }
        return out | dict(snap.technique_lookup)

    result: dict[str, str] = snap.memo("offerings.techniques", build)
    return result


def technique(snap: Snapshot, value: str) -> str:
    """The technique id for `value`, or a 404 naming the known ones."""
    known = technique_ids(snap)
    found = known.get(value.casefold()) or known.get(value)
    if found is None:
        raise unknown_id("technique", value, {v: v for v in known.values()} | known)
    return found


def runs_on(offering: Mapping[str, Any], hardware: EntityData) -> bool:
    """Whether an offering names this hardware, by id or by its chip family."""
    family = hardware.data.get("family")
    return any(
        h.get("hardware") == hardware.id or (family and h.get("family") == family)
        for h in offering.get("hardware", ())
    )


def can_tune(offering: Mapping[str, Any], model_id: str) -> bool:
    """Whether an offering lists the model as supported, or fine-tunes any model."""
    for entry in offering.get("models", ()):
        if entry["model"] == model_id:
            return bool(entry["status"] in ("supported", "unconfirmed", "claimed"))
    return offering.get("any_model") is not None


def offerings(
    snap: Snapshot,
    model: str | None = None,
    technique_value: str | None = None,
    mode: s.Mode | None = None,
    hardware: str | None = None,
    status: s.Status | None = None,
) -> list[EntityData]:
    """The offerings that match every filter given (unknown ids are 404s)."""
    items = list(entities(snap, "offering").values())
    if model is not None:
        model_id = get(snap, "model", model).id
        items = [o for o in items if can_tune(o.data, model_id)]
    if technique_value is not None:
        tid = technique(snap, technique_value)
        items = [o for o in items if any(t["technique"] == tid for t in o.data["techniques"])]
    if mode is not None:
        items = [o for o in items if mode in (o.data["mode"], *o.data.get("also_modes", ()))]
    if hardware is not None:
        found = get(snap, "hardware", hardware)
        items = [o for o in items if runs_on(o.data, found)]
    if status is not None:
        items = [o for o in items if o.data["lifecycle"]["status"] == status]
    return items


def _fit(confidences: Iterable[str | None]) -> s.Fit:
    worst = max((CONFIDENCE_RANK[c] for c in confidences), default=0)
    return FIT_ORDER[worst]


def _judge(
    snap: Snapshot, o: EntityData, model_id: str, techniques: Sequence[str]
) -> s.Match | s.ExcludedOffering:
    data = o.data
    reasons: list[s.Reason] = []
    life = data["lifecycle"]
    if life["status"] == "retired":
        reasons.append(s.Reason(code="offering_retired", message=f"{o.id} was retired.",
                                date=life.get("until"), sources=list(life["sources"])))  # fmt: skip
    entry = next((m for m in data["models"] if m["model"] == model_id), None)
    confidences: list[str | None] = []
    notes: list[str] = []
    sources: list[str] = []
    if entry is not None and entry["status"] == "retired":
        reasons.append(s.Reason(
            code="model_retired",
            message=f"{model_id} can no longer be fine-tuned here: retired on {entry['until']}.",
            date=entry["until"], sources=list(entry["sources"])))  # fmt: skip
    elif entry is not None and entry["status"] == "not-supported":
        reasons.append(s.Reason(
            code="model_not_supported",
            message=f"{o.id} cannot fine-tune {model_id}. {entry.get('note') or ''}".strip(),
            date=None, sources=list(entry["sources"])))  # fmt: skip
    elif entry is not None:
        # An offering's unconfirmed entry, or the seed page's bare claim, is never certain.
        unsure = entry["status"] in ("unconfirmed", "claimed")
        confidences.append("low" if unsure else entry["confidence"])
        notes.append(entry.get("note") or f"{model_id}: {entry['status']}.")
        sources += entry["sources"]
    elif data.get("any_model") is not None:
        confidences.append(data["any_model"]["confidence"])
        notes.append(data["any_model"]["text"])
        sources += data["any_model"]["sources"]
    else:
        reasons.append(s.Reason(code="model_not_supported",
                                message=f"{o.id} does not list {model_id} among its models.",
                                date=None, sources=list(data["sources"])))  # fmt: skip
    offered = {t["technique"]: t for t in data["techniques"]}
    for tid in techniques:
        if tid not in offered:
            reasons.append(s.Reason(code="technique_not_offered",
                                    message=f"{o.id} does not offer {tid}.", date=None,
                                    sources=list(data["sources"])))  # fmt: skip
            continue
        confidences.append(offered[tid]["confidence"])
        if offered[tid].get("note"):
            notes.append(f"{tid}: {offered[tid]['note']}")
        sources += offered[tid]["sources"]
    if reasons:
        return s.ExcludedOffering(offering=o.id, name=data["name"], reasons=reasons)
    fit = _fit(confidences)
    return s.Match(offering=o.id, name=data["name"], platform=data["platform"],
                   mode=data["mode"], fit=fit, notes=notes,
                   sources=list(dict.fromkeys(sources)))  # fmt: skip


def where(snap: Snapshot, model: str, techniques: Sequence[str]) -> s.WhereAnswer:
    """Rank the offerings that can fine-tune `model` with every technique given (surest
    first), and say for every other offering why it cannot."""
    model_id = get(snap, "model", model).id
    tids = list(dict.fromkeys(technique(snap, t) for t in techniques))
    matches: list[s.Match] = []
    excluded: list[s.ExcludedOffering] = []
    for o in entities(snap, "offering").values():
        judged = _judge(snap, o, model_id, tids)
        if isinstance(judged, s.Match):
            matches.append(judged)
        else:
            excluded.append(judged)
    matches.sort(key=lambda m: (FIT_ORDER.index(m.fit), m.offering))
    return s.WhereAnswer(
        revision=snap.revision, model=model_id, techniques=tids, matches=matches,
        excluded=excluded,
    )  # fmt: skip


EXPORT_KEYS = {"model": "models", "hardware": "hardware", "platform": "platforms",
               "offering": "offerings"}  # fmt: skip


def export_entities(snap: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The four kinds as the snapshot document holds them: each entity's stored fields plus
    `id` and `since_revision`, in id order (what `ftmatrix check --offline` reads)."""
    return {
        key: [_read(e) for e in entities(snap, kind).values()] for kind, key in EXPORT_KEYS.items()
    }
