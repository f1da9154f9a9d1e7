"""What the pairs heat map and a pair's panel show, judged by the compatibility service (the
same rules, inheritance from parent pairs included, as `GET /v1/compatibility`)."""

from __future__ import annotations

from dataclasses import dataclass

from service.catalog import service as catalog
from service.compat import schemas as cs
from service.compat import service as compat
from service.errors import BadRequest
from service.snapshot import Snapshot, TechniqueData

MAX_HEAT = 60
"""Techniques the heat map shows at most (its cells grow with the square of them)."""


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Technique x technique verdicts; `left_out` techniques did not fit."""

    techniques: list[TechniqueData]
    verdicts: dict[tuple[str, str], cs.PairJudgement]
    left_out: int

    def judgement(self, a: str, b: str) -> cs.PairJudgement | None:
        """The verdict on a pair (None on the diagonal)."""
        return self.verdicts.get((a, b))


def heat_map(snap: Snapshot) -> HeatMap:
    """Every pair among the first `MAX_HEAT` techniques, judged once per snapshot."""

    def build() -> HeatMap:
        shown = list(snap.techniques.values())[:MAX_HEAT]
        verdicts: dict[tuple[str, str], cs.PairJudgement] = {}
        if len(shown) >= 2:
            for judged in compat.compatibility(snap, [t.id for t in shown]).pairs:
                verdicts[(judged.a, judged.b)] = verdicts[(judged.b, judged.a)] = judged
        return HeatMap(shown, verdicts, len(snap.techniques) - len(shown))

    result: HeatMap = snap.memo("pages.heat_map", build)
    return result


@dataclass(frozen=True, slots=True)
class PairDetail:
    a: TechniqueData
    b: TechniqueData
    judgement: cs.PairJudgement


def pair_detail(snap: Snapshot, a: str, b: str) -> PairDetail:
    """The verdict on two techniques with the fact behind it (404 for an unknown id)."""
    first, second = catalog.technique(snap, a), catalog.technique(snap, b)
    if first.id == second.id:
        raise BadRequest(f"{first.name} paired with itself has no verdict: pick two techniques.")
    judged = compat.compatibility(snap, [first.id, second.id]).pairs[0]
    return PairDetail(first, second, judged)
