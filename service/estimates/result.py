"""What an estimate answers: bytes per component and place, every term with its source.

All figures are whole bytes. `Estimate.unit` is the unit the profile's source prints in, so a
figure can be shown the way that source shows it (`unit.of(n)`), with the unit's real name
beside the label the source uses (DeepSpeed prints GiB and calls them "GB").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.estimates.choices import MODEL_STATES, Component, NoteKind, Place, Profile


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of bytes: its real symbol, its size, and the label its source prints."""

    symbol: str
    bytes: int
    label: str

    def of(self, n: int) -> float:
        """`n` bytes in this unit."""
        return n / self.bytes

    def format(self, n: int, digits: int = 2) -> str:
        """`n` bytes as text in this unit, e.g. '15.93 GiB'."""
        return f"{self.of(n):,.{digits}f} {self.symbol}"


GB = Unit("GB", 10**9, "GB")
GIB = Unit("GiB", 2**30, "GiB")
MIB = Unit("MiB", 2**20, "MiB")


@dataclass(frozen=True, slots=True)
class Term:
    """One counted quantity: where it lives, what it is for, how it was computed, and from
    which source the formula comes."""

    place: Place
    component: Component
    bytes: int
    label: str
    formula: str
    source: str


@dataclass(frozen=True, slots=True)
class Assumption:
    """A note behind the figures: an assumption, a disagreement between sources (naming the
    one followed) or a caveat; `topic` is a short stable key (e.g. 'disagreement-2')."""

    kind: NoteKind
    topic: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Bytes at one place (one GPU, or one node's CPU RAM or NVMe), by component.

    `model_states` is weights + gradients + optimizer states and `total` the sum of all
    components, except under the accelerate profile, where both are the largest single
    component, as `accelerate estimate-memory` reports.
    """

    weights: int = 0
    gradients: int = 0
    optimizer_states: int = 0
    activations: int = 0
    quantization_constants: int = 0
    other: int = 0
    model_states: int = 0
    total: int = 0

    def component(self, component: Component) -> int:
        """The bytes of one component."""
        value: int = getattr(self, component.value)
        return value

    @classmethod
    def summed(cls, parts: dict[Component, int]) -> Breakdown:
        """A breakdown whose model states and total are sums of its components."""
        values = {component.value: parts.get(component, 0) for component in Component}
        states = sum(parts.get(component, 0) for component in MODEL_STATES)
        return cls(**values, model_states=states, total=sum(parts.values()))


@dataclass(frozen=True, slots=True)
class Estimate:
    """Memory per GPU and per node, parameter counts, and the terms and notes behind them."""

    profile: Profile
    unit: Unit
    """The unit the profile's source prints in; every figure here is in bytes."""
    per_gpu: Breakdown
    per_node_cpu: Breakdown
    per_node_nvme: Breakdown
    params: int
    """Total parameters, adapters included (what PEFT prints as 'all params')."""
    trainable_params: int
    trainable_share: float
    """trainable_params / params."""
    gpus: int
    nodes: int
    data_parallel: int
    terms: tuple[Term, ...]
    assumptions: tuple[Assumption, ...]

    def at(self, place: Place) -> Breakdown:
        """The breakdown of one place."""
        return {Place.GPU: self.per_gpu, Place.CPU: self.per_node_cpu}.get(
            place, self.per_node_nvme
        )

    def topics(self) -> tuple[str, ...]:
        """The topics of the notes, in order."""
        return tuple(note.topic for note in self.assumptions)


class Ledger:
    """Collects terms and notes while a profile counts, then sums them into an Estimate."""

    def __init__(self) -> None:
        self.terms: list[Term] = []
        self.notes: list[Assumption] = []

    def add(
        self,
        place: Place,
        component: Component,
        n: int,
        label: str,
        formula: str,
        source: str,
    ) -> int:
        """Record a term (zero-byte terms are dropped) and return its bytes."""
        if n:
            self.terms.append(Term(place, component, n, label, formula, source))
        return n

    def note(self, kind: NoteKind, topic: str, text: str, source: str) -> None:
        """Record a note once per topic."""
        if topic not in {note.topic for note in self.notes}:
            self.notes.append(Assumption(kind, topic, text, source))

    def extend(self, notes: Iterable[Assumption]) -> None:
        """Record prepared notes, once per topic."""
        for note in notes:
            self.note(note.kind, note.topic, note.text, note.source)

    def sum(self, place: Place) -> int:
        """All bytes recorded at a place so far."""
        return sum(term.bytes for term in self.terms if term.place is place)

    def breakdown(self, place: Place) -> Breakdown:
        """The summed breakdown of a place."""
        parts: dict[Component, int] = {}
        for term in self.terms:
            if term.place is place:
                parts[term.component] = parts.get(term.component, 0) + term.bytes
        return Breakdown.summed(parts)
