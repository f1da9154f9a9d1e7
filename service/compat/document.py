"""The data snapshot document: what `GET /v1/export` serves and `ftmatrix check --offline` reads.

One JSON document holds everything a plan check needs (techniques with parents and aliases,
scenarios with titles and aliases, matrix cells, pair facts) for one revision. The service builds
its own `Knowledge` from the same document, so online and offline checks cannot disagree.
Pure: standard library and the rules engine only.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.compat.knowledge import CellFact, Knowledge, PairFact, TechniqueFact
from service.compat.requirements import requirement_from

FORMAT = "ftmatrix-snapshot/1"


class DocumentError(ValueError):
    """The document is not a snapshot this version understands."""


@dataclass(frozen=True)
class Catalog:
    """A snapshot document made usable: the rules' Knowledge plus id lookups by any spelling."""

    revision: int
    knowledge: Knowledge
    technique_spellings: Mapping[str, str] = field(repr=False)
    scenario_spellings: Mapping[str, str] = field(repr=False)

    def technique(self, value: str) -> str | None:
        """The technique id for an id, alias or name (case-insensitive), if any."""
        return self.technique_spellings.get(value.casefold())

    def scenario(self, value: str) -> str | None:
        """The scenario id for an id, alias or title (case-insensitive), if any."""
        return self.scenario_spellings.get(value.casefold())

    def closest_technique(self, value: str) -> str | None:
        return _closest(value, self.technique_spellings)

    def closest_scenario(self, value: str) -> str | None:
        return _closest(value, self.scenario_spellings)


def _closest(value: str, spellings: Mapping[str, str]) -> str | None:
    match = difflib.get_close_matches(value.casefold(), list(spellings), n=1, cutoff=0.5)
    return spellings[match[0]] if match else None


def _spellings(items: list[Mapping[str, Any]], extra: str) -> dict[str, str]:
    # Ids win over aliases and names when a spelling is ambiguous, as in the service.
    out: dict[str, str] = {}
    for item in items:
        for spelling in (*item.get("aliases", ()), item.get(extra) or ""):
            if spelling:
                out.setdefault(str(spelling).casefold(), item["id"])
    for item in items:
        out[item["id"].casefold()] = item["id"]
    return out


def load(document: Mapping[str, Any]) -> Catalog:
    """Turn a snapshot document into a Catalog; DocumentError when it is not one."""
    if document.get("format") != FORMAT:
        raise DocumentError(f"not a {FORMAT} document (format is {document.get('format')!r})")
    try:
        techniques = list(document["techniques"])
        scenarios = list(document["scenarios"])
        knowledge = Knowledge(
            revision=int(document["revision"]),
            techniques={
                t["id"]: TechniqueFact(id=t["id"], name=t["name"], parent=t.get("parent"))
                for t in techniques
            },
            scenarios={sc["id"]: sc["title"] for sc in scenarios},
            cells=tuple(
                CellFact(
                    scenario=c["scenario"],
                    technique=c["technique"],
                    support=c["support"],
                    note=c.get("note", ""),
                    sources=tuple(c.get("sources", ())),
                )
                for c in document["cells"]
            ),
            pairs=tuple(
                PairFact(
                    a=p["a"],
                    b=p["b"],
                    verdict=p["verdict"],
                    note=p.get("note", ""),
                    caveats=tuple(p.get("caveats", ())),
                    settings=tuple(p.get("settings", ())),
                    versions=dict(p.get("versions", {})),
                    recommended_versions=dict(p.get("recommended_versions", {})),
                    since=p.get("since"),
                    confidence=p.get("confidence", "high"),
                    sources=tuple(p.get("sources", ())),
                    requirements=tuple(requirement_from(r) for r in p.get("requirements") or ()),
                )
                for p in document["pairs"]
            ),
        )
    except (KeyError, TypeError) as exc:
        raise DocumentError(f"snapshot document is missing or mistypes {exc}") from exc
    except DocumentError:
        raise
    except ValueError as exc:
        raise DocumentError(f"snapshot document is inconsistent: {exc}") from exc
    return Catalog(
        revision=knowledge.revision,
        knowledge=knowledge,
        technique_spellings=_spellings(techniques, "name"),
        scenario_spellings=_spellings(scenarios, "title"),
    )
