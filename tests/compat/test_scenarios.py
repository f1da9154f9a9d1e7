"""check_plan on declared scenarios: cells no, partial, unknown, missing and inherited."""

from __future__ import annotations

import pytest

from service.compat.rules import CellFact, Knowledge, TechniqueFact
from tests.compat import sample
from tests.compat.sample import EXTRA_CELLS, at, check, only, plan, rules

K = sample.knowledge()


@pytest.mark.parametrize(
    ("technique", "scenario", "rule", "message"),
    [
        (
            "peft",
            "reduce-cost",
            "FTM201",
            "peft does not suit the scenario 'Reducing computational",
        ),
        ("fsdp", "reduce-cost", "FTM202", "fsdp only partly suits the scenario 'Reducing"),
        ("fsdp", "reduce-memory", "FTM203", "Whether fsdp suits the scenario 'Reducing memory"),
        ("fsdp", "fewer-parameters", "FTM203", "Whether fsdp suits the scenario 'Using fewer"),
        ("zero-3", "fewer-parameters", "FTM201", "zero-3 (as zero) does not suit the scenario"),
    ],
)
def test_scenario_cells(technique: str, scenario: str, rule: str, message: str) -> None:
    report = check(sample.knowledge(cells=EXTRA_CELLS), plan([technique], [scenario]))
    finding = only(report, rule)
    assert finding.message.startswith(message)
    assert (finding.techniques, finding.scenario) == ((technique,), scenario)
    assert finding.locations == (at(technique),)
    assert report.verdict == {"FTM201": "fail", "FTM202": "warn", "FTM203": "pass"}[rule]


def test_scenario_findings_carry_the_cell_and_a_fix() -> None:
    report = check(sample.knowledge(cells=EXTRA_CELLS), plan(["fsdp"], ["reduce-cost"]))
    partial = only(report, "FTM202")
    assert (partial.details, partial.evidence) == (("Only at scale.",), ("https://x.org",))
    assert (
        partial.fix
        == "consider a technique marked yes for this scenario: deepspeed, lora, qlora, zero"
    )
    unknown = only(check(K, plan(["fsdp"], ["reduce-memory"])), "FTM203")
    assert (unknown.fix, unknown.details, unknown.evidence) == (None, (), ())


def test_scenario_without_any_yes_has_no_fix() -> None:
    knowledge = Knowledge(
        1,
        {"a": TechniqueFact("a", "A")},
        cells=(CellFact("s", "a", "no"),),
        scenarios={"s": "S"},
    )
    assert only(check(knowledge, plan(["a"], ["s"])), "FTM201").fix is None


def test_scenarios_are_checked_for_the_specific_technique() -> None:
    # The table says LoRA "no" for fewer parameters; the plan's lora is its qlora.
    assert check(K, plan(["lora", "qlora"], ["fewer-parameters"])).findings == ()
    assert rules(check(K, plan(["lora"], ["fewer-parameters"]))) == ["FTM201"]


def test_supported_scenarios_and_repeated_scenarios_say_nothing() -> None:
    report = check(K, plan(["qlora"], ["domain-adaptation", "reduce-memory", "reduce-memory"]))
    assert (report.verdict, report.findings) == ("pass", ())
