"""What the offerings explorer (`/where`) and the models page (`/models`) show.

The ranking and the reasons an offering is excluded are `service.offerings.service.where`'s,
exactly as `GET /v1/where` answers them; this module only adds, for each offering that can run
the job, the claims that answer rests on (the model's entry or the offering's "any model"
statement, and each technique), each with its confidence as the ranking treats it: an entry
whose status is `unconfirmed` or `claimed` counts as low, whatever its own confidence says.
Reads only the snapshot (no database access).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.estimates.choices import Method
from service.offerings import schemas as s
from service.offerings import service as offerings
from service.snapshot import Snapshot

FIT_TEXT = {
    s.Fit.yes: "Yes: every claim behind it has high confidence",
    s.Fit.likely: "Likely: some claims behind it have only medium confidence",
    s.Fit.unconfirmed: "Unconfirmed: it rests on a low-confidence claim",
}
FIT_ICONS = {s.Fit.yes: "✓", s.Fit.likely: "◐", s.Fit.unconfirmed: "?"}
REASON_TEXT = {
    "model_not_supported": "Model not supported",
    "model_retired": "Model retired there",
    "technique_not_offered": "Technique not offered",
    "offering_retired": "Offering retired",
}
CONFIDENCE_TEXT = {
    "high": "high confidence",
    "medium": "medium confidence",
    "low": "low confidence: unconfirmed",
    None: "no confidence recorded: unconfirmed",
}
"""How a claim's confidence reads: a low or missing one always says it is unconfirmed."""
UNSURE_STATUSES = ("unconfirmed", "claimed")
"""Model entries the ranking counts as low confidence (`offerings.service._judge`)."""

_REPO_CITATION = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+):(?P<path>\S+)@(?P<commit>[0-9a-f]{7,40})")


@dataclass(frozen=True, slots=True)
class Citation:
    """A source as a page shows it: a link where the citation names one, and the rest as text."""

    href: str | None
    text: str
    note: str


def cite(source: str) -> Citation:
    """A source of the data as a link: a URL, or a `repo:path@commit` citation (the reference
    data's two forms; every repository it cites this way is on GitHub), with any trailing
    remark kept as a note. Any other citation (a tag, a command that was run) is text only."""
    if source.startswith(("https://", "http://")):
        url, _, rest = source.partition(" ")
        return Citation(url, url, rest.strip())
    found = _REPO_CITATION.match(source)
    if found:
        href = f"https://github.com/{found['repo']}/blob/{found['commit']}/{found['path']}"
        return Citation(href, found.group(0), source[found.end() :].strip())
    return Citation(None, source, "")


@dataclass(frozen=True, slots=True)
class Claim:
    """One statement an answer rests on, with its confidence as the ranking counts it."""

    subject: str
    text: str | None
    confidence: str | None
    sources: list[str]

    @property
    def confidence_text(self) -> str:
        """The confidence in words (never certain when low or missing)."""
        return CONFIDENCE_TEXT[self.confidence]


@dataclass(frozen=True, slots=True)
class MatchView:
    """An offering that can run the job: the ranking's match and the claims behind it."""

    match: s.Match
    platform: str | None
    claims: list[Claim]


@dataclass(frozen=True, slots=True)
class WhereView:
    """The answer of `GET /v1/where` with the chosen model and the claims of each match."""

    answer: s.WhereAnswer
    model: s.ModelRead
    matches: list[MatchView]

    @property
    def method(self) -> str | None:
        """The first technique asked about that the estimator counts (`full`, `lora`, `dora`,
        `qlora`), for the link to the estimate of the same job."""
        return next((t for t in self.answer.techniques if t in tuple(Method)), None)


def technique_choices(snap: Snapshot) -> list[tuple[str, str]]:
    """The techniques the explorer offers, as (id, name): the catalog's, in catalog order, then
    those only offerings name (`full`, `sft`...), in id order."""
    names = {t.id: t.name for t in snap.techniques.values()}
    extra = sorted(set(offerings.technique_ids(snap).values()) - set(names))
    return [*names.items(), *((t, t) for t in extra)]


def model_choices(snap: Snapshot) -> list[s.ModelRead]:
    """The models at the snapshot's revision, in id order."""
    return [offerings.model_read(e) for e in offerings.entities(snap, "model").values()]


def _platform_name(snap: Snapshot, platform: str | None) -> str | None:
    found = offerings.find(snap, "platform", platform) if platform else None
    return str(found.data["name"]) if found else platform


def _claims(offering: s.OfferingRead, model: str, techniques: Sequence[str]) -> list[Claim]:
    claims: list[Claim] = []
    entry = next((m for m in offering.models if m.model == model), None)
    if entry is not None:
        unsure = entry.status in UNSURE_STATUSES
        confidence = "low" if unsure else (entry.confidence.value if entry.confidence else None)
        claims.append(Claim(f"{model}: {entry.status}", entry.note, confidence, entry.sources))
    elif offering.any_model is not None:
        statement = offering.any_model
        confidence = statement.confidence.value if statement.confidence else None
        claims.append(
            Claim("Any model, beyond those listed", statement.text, confidence, statement.sources)
        )
    offered = {t.technique: t for t in offering.techniques}
    for technique in techniques:
        found = offered[technique]  # a match offers every technique asked for
        claims.append(
            Claim(f"Offers {technique}", found.note, found.confidence.value, found.sources)
        )
    return claims


def where_view(snap: Snapshot, model: str, techniques: Sequence[str]) -> WhereView:
    """The explorer's answer for `model` and `techniques` (ids, aliases or names); unknown ones
    raise the API's 404 with the closest spelling."""
    answer = offerings.where(snap, model, techniques)
    model_read = offerings.model_read(offerings.get(snap, "model", answer.model))
    matches = []
    for match in answer.matches:
        offering = offerings.offering_read(offerings.get(snap, "offering", match.offering))
        claims = _claims(offering, answer.model, answer.techniques)
        matches.append(MatchView(match, _platform_name(snap, match.platform), claims))
    return WhereView(answer, model_read, matches)


@dataclass(frozen=True, slots=True)
class Listing:
    """Everything the models page lists, as the JSON list routes read it."""

    models: list[s.ModelRead]
    hardware: list[s.HardwareRead]
    platforms: list[s.PlatformRead]


def listing(snap: Snapshot) -> Listing:
    """The models, hardware and platforms at the snapshot's revision, in id order."""
    return Listing(
        model_choices(snap),
        [offerings.hardware_read(e) for e in offerings.entities(snap, "hardware").values()],
        [offerings.platform_read(snap, e) for e in offerings.entities(snap, "platform").values()],
    )
