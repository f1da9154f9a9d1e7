"""The knowledge model: validation, pair lookup, pair verdicts with inheritance, overall verdict."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.compat.rules import (
    CellFact,
    Knowledge,
    PairFact,
    TechniqueFact,
    overall_verdict,
    pair_verdict,
    scenario_support,
)
from tests.compat import sample

K = sample.knowledge()


def techniques(**parents: str | None) -> dict[str, TechniqueFact]:
    return {tid: TechniqueFact(tid, tid, parent) for tid, parent in parents.items()}


# --- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"verdict": "supported"}, "verdict"),
        ({"confidence": "certain"}, "confidence"),
        ({"b": "lora"}, "twice"),
        ({"versions": {"peft": "0.10.0+"}}, "not a PEP 440 specifier"),
        ({"recommended_versions": {"peft": "latest"}}, "not a PEP 440 specifier"),
    ],
)
def test_pair_fact_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"a": "lora", "b": "zero-3", "verdict": "caveats", **kwargs}
    with pytest.raises(ValueError, match=match):
        PairFact(**fields)  # type: ignore[arg-type]


def test_pair_fact_normalizes_library_names_and_is_read_only() -> None:
    versions = {"BitsAndBytes": " >=0.43.0 ", "Flash_Attn": ">=2"}
    fact = PairFact("qlora", "zero-3", "caveats", versions=versions)
    assert dict(fact.versions) == {"bitsandbytes": ">=0.43.0", "flash-attn": ">=2"}
    versions["peft"] = ">=0.10.0"
    assert "peft" not in fact.versions
    with pytest.raises(TypeError):
        fact.versions["peft"] = ">=0.10.0"  # type: ignore[index]


def test_defaults_and_key() -> None:
    fact = PairFact("b", "a", "compatible")
    assert fact.confidence == "high"
    assert fact.key == frozenset({"a", "b"})
    assert (fact.caveats, fact.settings, fact.sources, fact.since) == ((), (), (), None)


def test_technique_and_cell_validation() -> None:
    with pytest.raises(ValueError, match="needs an id"):
        TechniqueFact("", "nameless")
    with pytest.raises(ValueError, match="own parent"):
        TechniqueFact("x", "x", "x")
    with pytest.raises(ValueError, match="support"):
        CellFact("reduce-cost", "lora", "maybe")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Knowledge(1, {"a": TechniqueFact("b", "b")}), "keyed as"),
        (lambda: Knowledge(1, techniques(a="ghost")), "unknown parent"),
        (lambda: Knowledge(1, techniques(a="b", b="c", c="a")), "cycle"),
        (
            lambda: Knowledge(
                1,
                techniques(a=None, b=None),
                pairs=(PairFact("a", "b", "compatible"), PairFact("b", "a", "caveats")),
            ),
            "two facts",
        ),
        (
            lambda: Knowledge(1, techniques(a=None), pairs=(PairFact("a", "merge", "caveats"),)),
            "unknown technique ids: merge",
        ),
        (
            lambda: Knowledge(1, techniques(a=None), cells=(CellFact("s", "a", "yes"),)),
            "unknown scenario",
        ),
        (
            lambda: Knowledge(
                1, techniques(a=None), cells=(CellFact("s", "b", "yes"),), scenarios={"s": "S"}
            ),
            "unknown technique ids: b",
        ),
        (
            lambda: Knowledge(
                1,
                techniques(a=None),
                cells=(CellFact("s", "a", "yes"), CellFact("s", "a", "no")),
                scenarios={"s": "S"},
            ),
            "two cells",
        ),
    ],
    ids=[
        "mis-keyed",
        "unknown-parent",
        "cycle",
        "duplicate-pair",
        "pair-unknown-technique",
        "cell-unknown-scenario",
        "cell-unknown-technique",
        "duplicate-cell",
    ],
)
def test_knowledge_rejects_inconsistent_data(build: Callable[[], Knowledge], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_knowledge_lookups() -> None:
    assert K.pair("zero-3", "qlora") is K.pair("qlora", "zero-3")
    assert K.pair("zero-3", "fsdp") is None
    assert K.ancestors("zero-3") == ("zero", "deepspeed")
    assert K.ancestors("lora") == ()
    assert K.related("deepspeed", "zero-3")
    assert K.related("zero-3", "zero")
    assert not K.related("zero-2", "zero-3")
    assert not K.related("lora", "lora")
    assert K.unknown_techniques(["lora", "x", "b", "x"]) == ("b", "x")
    assert K.unknown_scenarios(["reduce-cost", "nope"]) == ("nope",)
    cell = K.cell("reduce-memory", "lora")
    assert cell is not None
    assert cell.support == "no"
    assert K.cell("reduce-memory", "zero-3") is None


def test_knowledge_mappings_are_read_only_copies() -> None:
    names = {"s": "S"}
    knowledge = Knowledge(1, techniques(a=None), scenarios=names)
    names["t"] = "T"
    assert "t" not in knowledge.scenarios
    with pytest.raises(TypeError):
        knowledge.scenarios["u"] = "U"  # type: ignore[index]


# --- pair_verdict


def test_explicit_fact_in_either_order() -> None:
    forward = pair_verdict(K, "qlora", "zero-3")
    backward = pair_verdict(K, "zero-3", "qlora")
    assert (forward.a, forward.b, backward.a, backward.b) == ("qlora", "zero-3", "zero-3", "qlora")
    for judged in (forward, backward):
        assert judged.verdict == "caveats"
        assert judged.inherited_from is None
        assert judged.confidence == "high"
        assert judged.settings == sample.QLORA_ZERO3_SETTINGS
        assert judged.versions["peft"] == ">=0.10.0"
        assert judged.recommended_versions["peft"] == ">0.13.0"
        assert judged.sources[0] == sample.PEFT_DEEPSPEED
        assert len(judged.caveats) == 2


@pytest.mark.parametrize(
    ("a", "b", "verdict", "confidence"),
    [
        ("qlora", "zero-2", "compatible", "high"),
        ("deepspeed", "fsdp", "incompatible", "high"),
        ("lora", "qlora", "not_applicable", "high"),
        ("zero-plus-plus", "qlora", "unknown", "low"),
        ("dora", "qlora", "caveats", "high"),
        ("dora", "zero-3", "caveats", "low"),
    ],
)
def test_explicit_verdicts_mirror_the_reference(
    a: str, b: str, verdict: str, confidence: str
) -> None:
    judged = pair_verdict(K, a, b)
    assert (judged.verdict, judged.confidence, judged.inherited_from) == (verdict, confidence, None)


@pytest.mark.parametrize(
    ("a", "b", "note"),
    [
        ("qlora", "lora", "QLoRA is LoRA on a 4-bit base."),
        ("zero-offload", "zero", "zero-offload builds on zero"),
        ("lora", "dora", "Both merge into a dense weight."),
        ("zero", "zero-3", "zero-3 builds on zero"),
        ("zero-3", "deepspeed", "zero-3 builds on deepspeed"),
        ("deepspeed", "zero-infinity", "zero-infinity builds on deepspeed"),
        ("zero", "deepspeed", "ZeRO is implemented inside DeepSpeed."),
    ],
)
def test_technique_with_its_own_ancestor(a: str, b: str, note: str) -> None:
    judged = pair_verdict(K, a, b)
    assert judged.note == note
    explicit = K.pair(a, b)
    if explicit is None:
        assert (judged.verdict, judged.fact, judged.confidence) == ("not_applicable", None, "high")
        assert (judged.caveats, judged.settings, judged.sources) == ((), (), ())
        assert dict(judged.versions) == dict(judged.recommended_versions) == {}
    else:
        # An explicit fact wins over the hierarchy: lora + dora is a recorded combination.
        assert judged.fact is explicit
        assert judged.verdict == explicit.verdict


def test_inherited_incompatible_keeps_the_parent_verdict() -> None:
    judged = pair_verdict(K, "zero-3", "fsdp")
    assert judged.verdict == "incompatible"
    assert judged.inherited_from == ("deepspeed", "fsdp")
    assert judged.confidence == "high"
    assert judged.fact is K.pair("deepspeed", "fsdp")
    flipped = pair_verdict(K, "fsdp", "zero-3")
    assert flipped.inherited_from == ("fsdp", "deepspeed")
    assert flipped.fact is judged.fact


def test_inherited_positive_verdict_is_at_most_medium_confidence() -> None:
    judged = pair_verdict(K, "dora", "zero-1")
    assert (judged.verdict, judged.confidence) == ("compatible", "medium")
    assert judged.inherited_from == ("lora", "zero-1")
    caveats = pair_verdict(K, "dora", "zero-offload")
    assert (caveats.verdict, caveats.confidence) == ("caveats", "medium")
    assert caveats.inherited_from == ("lora", "zero-offload")


def test_inherited_low_confidence_stays_low() -> None:
    low = PairFact("lora", "fsdp", "compatible", confidence="low")
    judged = pair_verdict(sample.knowledge(add=[low]), "qlora", "fsdp")
    assert judged.verdict == "caveats"  # qlora + fsdp has its own fact
    judged = pair_verdict(sample.knowledge(add=[low], drop=["qlora+fsdp"]), "qlora", "fsdp")
    assert (judged.verdict, judged.confidence, judged.inherited_from) == (
        "compatible",
        "low",
        ("lora", "fsdp"),
    )


def test_parent_fact_applies_only_without_an_explicit_child_fact() -> None:
    parent = PairFact("qlora", "zero", "incompatible", note="parent says no")
    with_both = sample.knowledge(add=[parent])
    explicit = pair_verdict(with_both, "qlora", "zero-3")
    assert (explicit.verdict, explicit.inherited_from) == ("caveats", None)
    inherited = pair_verdict(
        sample.knowledge(add=[parent], drop=["qlora+zero-3", "lora+zero-3"]), "qlora", "zero-3"
    )
    assert (inherited.verdict, inherited.inherited_from) == ("incompatible", ("qlora", "zero"))
    assert inherited.note == "parent says no"
    # An explicit unknown also wins: zero-plus-plus + lora is compatible, + qlora is unknown.
    assert pair_verdict(K, "qlora", "zero-plus-plus").verdict == "unknown"


def test_nearest_fact_wins_and_one_sided_before_both_sided() -> None:
    near = PairFact("qlora", "deepspeed", "caveats")  # one side replaced, distance 2
    far = PairFact("lora", "zero", "incompatible")  # both sides replaced, distance 2
    judged = pair_verdict(
        sample.knowledge(add=[near, far], drop=["qlora+zero-3", "lora+zero-3"]), "qlora", "zero-3"
    )
    assert judged.inherited_from == ("qlora", "deepspeed")
    nearer = PairFact("qlora", "zero", "compatible")  # distance 1
    knowledge = sample.knowledge(add=[near, far, nearer], drop=["qlora+zero-3", "lora+zero-3"])
    assert pair_verdict(knowledge, "zero-3", "qlora").inherited_from == ("zero", "qlora")
    assert pair_verdict(sample.knowledge(add=[far]), "dora", "zero-infinity").inherited_from == (
        "lora",
        "zero",
    )


def test_equally_near_facts_resolve_to_the_worst_verdict_in_either_order() -> None:
    by_a = PairFact("lora", "zero-infinity", "compatible")
    by_b = PairFact("qlora", "zero", "incompatible")
    knowledge = sample.knowledge(add=[by_a, by_b])
    assert pair_verdict(knowledge, "qlora", "zero-infinity").inherited_from == ("qlora", "zero")
    assert pair_verdict(knowledge, "zero-infinity", "qlora").inherited_from == ("zero", "qlora")


def test_equally_near_equally_bad_facts_resolve_the_same_in_either_order() -> None:
    by_a = PairFact("lora", "zero-infinity", "caveats")
    by_b = PairFact("qlora", "zero", "caveats")
    knowledge = sample.knowledge(add=[by_a, by_b])
    forward = pair_verdict(knowledge, "qlora", "zero-infinity")
    backward = pair_verdict(knowledge, "zero-infinity", "qlora")
    assert forward.fact is backward.fact is by_a
    assert forward.inherited_from == ("lora", "zero-infinity")
    assert backward.inherited_from == ("zero-infinity", "lora")


def test_hierarchy_facts_are_not_inherited_by_siblings() -> None:
    # deepspeed + zero describes the hierarchy; zero-2 + zero-3 must not inherit it.
    judged = pair_verdict(K, "zero-2", "zero-3")
    assert (judged.verdict, judged.fact, judged.confidence) == ("unknown", None, None)
    # peft + lora is not a hierarchy fact, so a child of lora does inherit it.
    assert pair_verdict(sample.knowledge(drop=["peft+dora"]), "peft", "dora").inherited_from == (
        "peft",
        "lora",
    )


def test_nothing_known_is_unknown_never_a_guess() -> None:
    judged = pair_verdict(K, "zero-infinity", "qlora")
    assert (judged.verdict, judged.fact, judged.inherited_from) == ("unknown", None, None)
    assert judged.note == "No fact is known for this pair."


def test_pair_verdict_rejects_non_pairs_and_unknown_ids() -> None:
    with pytest.raises(ValueError, match="not a pair"):
        pair_verdict(K, "lora", "lora")
    with pytest.raises(ValueError, match="unknown technique ids: nope"):
        pair_verdict(K, "lora", "nope")


# --- overall_verdict


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], "compatible"),
        (["compatible"], "compatible"),
        (["compatible", "caveats"], "caveats"),
        (["caveats", "unknown", "compatible"], "unknown"),
        (["unknown", "incompatible", "caveats"], "incompatible"),
        (["compatible", "incompatible"], "incompatible"),
        (["not_applicable"], "not_applicable"),
        (["not_applicable", "compatible"], "compatible"),
        (["not_applicable", "caveats", "not_applicable"], "caveats"),
        (["not_applicable", "unknown"], "unknown"),
    ],
)
def test_overall_verdict(verdicts: list[str], expected: str) -> None:
    assert overall_verdict(verdicts) == expected
    assert overall_verdict(reversed(verdicts)) == expected


def test_overall_verdict_rejects_strings_that_are_not_verdicts() -> None:
    with pytest.raises(ValueError, match="verdict must be one of"):
        overall_verdict(["compatible", "supported"])


# --- scenario_support


def test_scenario_support_own_inherited_and_missing() -> None:
    own = scenario_support(K, "reduce-memory", "qlora")
    assert (own.support, own.inherited_from) == ("yes", None)
    inherited = scenario_support(K, "fewer-parameters", "zero-3")
    assert (inherited.support, inherited.inherited_from) == ("no", "zero")
    assert inherited.cell is K.cell("fewer-parameters", "zero")
    missing = scenario_support(K, "reduce-cost", "fsdp")
    assert (missing.support, missing.cell, missing.inherited_from) == ("unknown", None, None)


def test_explicit_unknown_cell_is_not_overridden_by_the_parent() -> None:
    knowledge = sample.knowledge(cells=[CellFact("reduce-memory", "zero-3", "unknown")])
    judged = scenario_support(knowledge, "reduce-memory", "zero-3")
    assert (judged.support, judged.inherited_from) == ("unknown", None)


def test_scenario_support_rejects_unknown_ids() -> None:
    with pytest.raises(ValueError, match="unknown scenario id"):
        scenario_support(K, "nope", "lora")
    with pytest.raises(ValueError, match="unknown technique ids"):
        scenario_support(K, "reduce-cost", "nope")
