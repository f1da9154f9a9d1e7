"""What the rules know: techniques, pair facts and scenario cells, and how one pair is judged.

Pure data and functions over it (standard library and `packaging` only), shared by the service
and the offline CLI through `service.compat.rules`, which re-exports every public name here.

Inheritance. The catalog's parent links are "is a" links (QLoRA is a LoRA, ZeRO-3 is a ZeRO, ZeRO
is part of DeepSpeed), so a fact about a parent pair is evidence about the child pair, but weaker
evidence: `pair_verdict` uses it only when the pair itself has no fact, keeps its verdict, and
caps the confidence of a positive verdict (`compatible`, `caveats`) at `medium`, because
"LoRA works with X" does not prove "QLoRA works with X" (it did not, before PEFT 0.10). Negative
verdicts (`incompatible`, `unknown`, `not_applicable`) keep the parent fact's confidence: being
conservative about a child costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from service.compat.requirements import Requirement
from service.detect.plan import normalize_name
from service.vocabulary import CONFIDENCES, VERDICT_ORDER, VERDICTS
from service.vocabulary import SUPPORT_LEVELS as SUPPORTS

_VERDICT_RANK = {verdict: rank for rank, verdict in enumerate(VERDICT_ORDER)}
_CONFIDENCE_RANK = {confidence: rank for rank, confidence in enumerate(CONFIDENCES)}
_INHERITED_POSITIVE_CAP = "medium"


def _require(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


@dataclass(frozen=True, slots=True)
class TechniqueFact:
    """A catalog technique: its slug, display name, and the slug of the technique it builds on."""

    id: str
    name: str
    parent: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a technique needs an id")
        if self.parent == self.id:
            raise ValueError(f"technique {self.id!r} cannot be its own parent")


@dataclass(frozen=True, slots=True)
class PairFact:
    """What is known about combining techniques `a` and `b` (unordered).

    `versions` maps a library to the PEP 440 specifier from which the pair works, and
    `recommended_versions` to the specifier its maintainers recommend; library names are stored
    normalized (PEP 503). `requirements` are the machine-readable form of what `settings` say
    in words (see `service.compat.requirements`); a fact with requirements is judged by them.
    Raises ValueError for an unknown verdict or confidence, for a == b,
    and for a specifier that is not PEP 440.
    """

    a: str
    b: str
    verdict: str
    note: str = ""
    caveats: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    recommended_versions: Mapping[str, str] = field(default_factory=dict)
    since: str | None = None
    confidence: str = "high"
    sources: tuple[str, ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ValueError(f"a pair needs two techniques, got {self.a!r} twice")
        _require(self.verdict, VERDICTS, f"verdict of {self.a} + {self.b}")
        _require(self.confidence, CONFIDENCES, f"confidence of {self.a} + {self.b}")
        object.__setattr__(self, "versions", self._specifiers(self.versions))
        object.__setattr__(
            self, "recommended_versions", self._specifiers(self.recommended_versions)
        )

    def _specifiers(self, specifiers: Mapping[str, str]) -> Mapping[str, str]:
        checked: dict[str, str] = {}
        for library, specifier in specifiers.items():
            try:
                SpecifierSet(specifier)
            except InvalidSpecifier as exc:
                raise ValueError(
                    f"{self.a} + {self.b}: {specifier!r} for {library} is not a PEP 440 specifier"
                ) from exc
            checked[normalize_name(library)] = specifier.strip()
        # A read-only copy: one Knowledge is shared by every request of the service.
        return MappingProxyType(checked)

    @property
    def key(self) -> frozenset[str]:
        """The unordered pair, as used to index facts."""
        return frozenset((self.a, self.b))


@dataclass(frozen=True, slots=True)
class CellFact:
    """How well `technique` suits `scenario`: `yes`, `no`, `partial` or `unknown`."""

    scenario: str
    technique: str
    support: str
    note: str = ""
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self.support, SUPPORTS, f"support of {self.technique} for {self.scenario}")


@dataclass(frozen=True, slots=True)
class Knowledge:
    """One catalog revision: techniques by id, pair facts, scenario cells, scenario titles by id.

    Raises ValueError when the data is inconsistent: a technique keyed under another id, an
    unknown or cyclic parent, two facts for one pair (in either order) or for one cell, or a fact
    or cell naming an unknown technique or scenario.
    """

    revision: int
    techniques: Mapping[str, TechniqueFact]
    pairs: tuple[PairFact, ...] = ()
    cells: tuple[CellFact, ...] = ()
    scenarios: Mapping[str, str] = field(default_factory=dict)
    _pair_index: dict[frozenset[str], PairFact] = field(init=False, repr=False, compare=False)
    _cell_index: dict[tuple[str, str], CellFact] = field(init=False, repr=False, compare=False)
    _ancestors: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "techniques", MappingProxyType(dict(self.techniques)))
        object.__setattr__(self, "scenarios", MappingProxyType(dict(self.scenarios)))
        object.__setattr__(self, "_ancestors", self._chains())
        pair_index: dict[frozenset[str], PairFact] = {}
        for fact in self.pairs:
            self.require_techniques(fact.a, fact.b)
            if fact.key in pair_index:
                raise ValueError(f"two facts for the pair {fact.a} + {fact.b}")
            pair_index[fact.key] = fact
        object.__setattr__(self, "_pair_index", pair_index)
        cell_index: dict[tuple[str, str], CellFact] = {}
        for cell in self.cells:
            self.require_techniques(cell.technique)
            if cell.scenario not in self.scenarios:
                raise ValueError(f"cell names an unknown scenario {cell.scenario!r}")
            if (cell.scenario, cell.technique) in cell_index:
                raise ValueError(f"two cells for {cell.technique} in {cell.scenario}")
            cell_index[cell.scenario, cell.technique] = cell
        object.__setattr__(self, "_cell_index", cell_index)

    def _chains(self) -> dict[str, tuple[str, ...]]:
        chains: dict[str, tuple[str, ...]] = {}
        for key, technique in self.techniques.items():
            if key != technique.id:
                raise ValueError(f"technique {technique.id!r} is keyed as {key!r}")
            chain: list[str] = []
            parent = technique.parent
            while parent is not None:
                if parent not in self.techniques:
                    raise ValueError(f"{technique.id}: unknown parent {parent!r}")
                if parent == technique.id or parent in chain:
                    raise ValueError(f"{technique.id}: its parents form a cycle")
                chain.append(parent)
                parent = self.techniques[parent].parent
            chains[key] = tuple(chain)
        return chains

    def require_techniques(self, *ids: str) -> None:
        """Raise ValueError naming the ids that name no technique of this revision."""
        unknown = self.unknown_techniques(ids)
        if unknown:
            raise ValueError(f"unknown technique ids: {', '.join(unknown)}")

    def unknown_techniques(self, ids: Iterable[str]) -> tuple[str, ...]:
        """The ids (sorted, once each) that name no technique of this revision."""
        return tuple(sorted({i for i in ids if i not in self.techniques}))

    def unknown_scenarios(self, ids: Iterable[str]) -> tuple[str, ...]:
        """The ids (sorted, once each) that name no scenario of this revision."""
        return tuple(sorted({i for i in ids if i not in self.scenarios}))

    def pair(self, a: str, b: str) -> PairFact | None:
        """The explicit fact for the pair, in either order; None when there is none."""
        return self._pair_index.get(frozenset((a, b)))

    def cell(self, scenario: str, technique: str) -> CellFact | None:
        """The explicit cell for the technique in the scenario; None when there is none."""
        return self._cell_index.get((scenario, technique))

    def ancestors(self, technique: str) -> tuple[str, ...]:
        """The technique's parent, grandparent, ... (nearest first). KeyError if unknown."""
        return self._ancestors[technique]

    def related(self, a: str, b: str) -> bool:
        """True when one technique is an ancestor of the other."""
        return a in self._ancestors[b] or b in self._ancestors[a]


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """The judgement of one pair, in the order it was asked.

    `fact` is the fact the verdict rests on (None when nothing is known or when the pair is a
    technique with its own ancestor); `inherited_from` names the ancestor pair that fact belongs
    to, aligned with (a, b), when it is not the pair's own; `confidence` is None without a fact.
    """

    a: str
    b: str
    verdict: str
    confidence: str | None
    note: str
    fact: PairFact | None = None
    inherited_from: tuple[str, str] | None = None

    @property
    def caveats(self) -> tuple[str, ...]:
        """The fact's caveats, or none."""
        return self.fact.caveats if self.fact else ()

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings the pair requires, or none."""
        return self.fact.settings if self.fact else ()

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The fact's structured requirements, or none."""
        return self.fact.requirements if self.fact else ()

    @property
    def versions(self) -> Mapping[str, str]:
        """Library -> specifier from which the pair works, or empty."""
        return self.fact.versions if self.fact else MappingProxyType({})

    @property
    def recommended_versions(self) -> Mapping[str, str]:
        """Library -> recommended specifier, or empty."""
        return self.fact.recommended_versions if self.fact else MappingProxyType({})

    @property
    def sources(self) -> tuple[str, ...]:
        """The fact's source URLs, or none."""
        return self.fact.sources if self.fact else ()


def pair_verdict(knowledge: Knowledge, a: str, b: str) -> PairVerdict:
    """Judge the pair (a, b); the answer does not depend on the order beyond echoing it.

    In order: the pair's own fact; `not_applicable` ("a builds on b") when one technique is an
    ancestor of the other; a fact inherited from an ancestor pair; else `unknown`, never a guess.
    Inherited facts are searched nearest first, pairs with one side unchanged before pairs with
    both sides replaced; among equally near facts the worst verdict wins. A fact between a
    technique and its own ancestor describes the hierarchy, not a combination, so it is never
    inherited (zero-2 + zero-3 does not inherit deepspeed + zero). See the module docstring for
    the confidence an inherited fact keeps.

    Raises ValueError for an unknown id or for a == b (a technique is not a pair with itself).
    """
    knowledge.require_techniques(a, b)
    if a == b:
        raise ValueError(f"{a!r} twice is not a pair")
    own = knowledge.pair(a, b)
    if own is not None:
        return PairVerdict(a, b, own.verdict, own.confidence, own.note, own)
    if knowledge.related(a, b):
        child, ancestor = (a, b) if b in knowledge.ancestors(a) else (b, a)
        return PairVerdict(a, b, "not_applicable", "high", f"{child} builds on {ancestor}")
    found = _inherited(knowledge, a, b)
    if found is None:
        return PairVerdict(a, b, "unknown", None, "No fact is known for this pair.")
    fact, inherited_from = found
    confidence = fact.confidence
    if fact.verdict in ("compatible", "caveats"):
        confidence = max(confidence, _INHERITED_POSITIVE_CAP, key=_CONFIDENCE_RANK.__getitem__)
    return PairVerdict(a, b, fact.verdict, confidence, fact.note, fact, inherited_from)


def _inherited(knowledge: Knowledge, a: str, b: str) -> tuple[PairFact, tuple[str, str]] | None:
    best: tuple[tuple[bool, int, int, tuple[str, ...]], PairFact, tuple[str, str]] | None = None
    for i, x in enumerate((a, *knowledge.ancestors(a))):
        for j, y in enumerate((b, *knowledge.ancestors(b))):
            if (i, j) == (0, 0) or x == y or knowledge.related(x, y):
                continue
            fact = knowledge.pair(x, y)
            if fact is None:
                continue
            # Sorted names last so that (a, b) and (b, a) pick the same fact.
            rank = (i > 0 and j > 0, i + j, _VERDICT_RANK[fact.verdict], tuple(sorted((x, y))))
            if best is None or rank < best[0]:
                best = (rank, fact, (x, y))
    return None if best is None else (best[1], best[2])


def overall_verdict(verdicts: Iterable[str]) -> str:
    """Combine pair verdicts into one: the worst of them, in the order of VERDICT_ORDER.

    incompatible > unknown > caveats > compatible; `not_applicable` counts only when it is all
    there is (then the answer is `not_applicable`); no verdicts at all is `compatible`, since
    nothing conflicts. Raises ValueError for a string that is not a verdict.
    """
    seen: set[str] = set()
    for verdict in verdicts:
        _require(verdict, VERDICTS, "verdict")
        seen.add(verdict)
    return min(seen, key=_VERDICT_RANK.__getitem__, default="compatible")


@dataclass(frozen=True, slots=True)
class SupportVerdict:
    """How well a technique suits a scenario, and the ancestor whose cell said so, if any."""

    scenario: str
    technique: str
    support: str
    cell: CellFact | None = None
    inherited_from: str | None = None


def scenario_support(knowledge: Knowledge, scenario: str, technique: str) -> SupportVerdict:
    """The technique's own cell, else its nearest ancestor's (the catalog's table has a ZeRO
    column, plans name ZeRO-3), else `unknown`. An explicit `unknown` cell is not overridden.

    Raises ValueError for an unknown scenario or technique id.
    """
    knowledge.require_techniques(technique)
    if scenario not in knowledge.scenarios:
        raise ValueError(f"unknown scenario id: {scenario}")
    for source in (technique, *knowledge.ancestors(technique)):
        cell = knowledge.cell(scenario, source)
        if cell is not None:
            inherited_from = None if source == technique else source
            return SupportVerdict(scenario, technique, cell.support, cell, inherited_from)
    return SupportVerdict(scenario, technique, "unknown")
