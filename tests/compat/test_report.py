"""The report as a whole: ordering, determinism, locations; the rule registry; purity."""

from __future__ import annotations

import ast
import random
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from service.compat.requirements import Requirement
from service.compat.rules import RULES, SEVERITIES, Knowledge, PairFact, Report
from service.detect.plan import Location, Plan, PlannedSetting, PlannedTechnique
from tests.compat import sample
from tests.compat.sample import BUSY, EXTRA_CELLS, GOOD_PINS, check, only, plan, rules

K = sample.knowledge()
T = TypeVar("T")


# --- report


def test_findings_are_ordered_by_severity_rule_techniques_scenario() -> None:
    report = check(sample.knowledge(cells=EXTRA_CELLS), BUSY)
    keys = [
        (SEVERITIES.index(f.severity), f.rule, f.techniques, f.scenario or "")
        for f in report.findings
    ]
    assert keys == sorted(keys)
    assert len(set(report.findings)) == len(report.findings)
    assert report.verdict == "fail"


@pytest.mark.parametrize("seed", range(8))
def test_order_of_inputs_does_not_change_the_report(seed: int) -> None:
    rng = random.Random(seed)
    knowledge = sample.knowledge(cells=EXTRA_CELLS)
    # A repeated id whose locations arrive in another order must collapse the same way too.
    repeated = PlannedTechnique("zero-3", Location("other.json", line=1))
    checked = Plan([*BUSY.techniques, repeated], BUSY.scenarios, BUSY.libraries)
    expected = check(knowledge, checked)

    def shuffled(items: Iterable[T]) -> list[T]:
        listed = list(items)
        rng.shuffle(listed)
        return listed

    shuffled_knowledge = Knowledge(
        revision=knowledge.revision,
        techniques=dict(shuffled(knowledge.techniques.items())),
        pairs=tuple(shuffled(knowledge.pairs)),
        cells=tuple(shuffled(knowledge.cells)),
        scenarios=dict(shuffled(knowledge.scenarios.items())),
    )
    shuffled_plan = Plan(
        techniques=shuffled(checked.techniques),
        scenarios=shuffled(checked.scenarios),
        libraries=dict(shuffled(checked.libraries.items())),
    )
    assert check(shuffled_knowledge, shuffled_plan) == expected


def test_repeated_technique_locations_are_merged_and_sorted() -> None:
    locations = [
        Location(f"{name}.yaml", line, key)
        for name in "dcba"
        for line, key in ((9, None), (None, "k"), (2, "j"))
    ]
    repeated = Plan(
        techniques=[
            PlannedTechnique("deepspeed", None),
            *(PlannedTechnique("fsdp", location) for location in locations + locations),
        ]
    )
    finding = only(check(K, repeated), "FTM101")
    assert finding.locations == tuple(
        sorted(locations, key=lambda loc: (loc.file, loc.line or 0, loc.key or ""))
    )
    assert finding.locations[:3] == (
        Location("a.yaml", None, "k"),
        Location("a.yaml", 2, "j"),
        Location("a.yaml", 9, None),
    )


def test_a_line_shared_by_two_techniques_is_located_once() -> None:
    shared = Location("ds_config.json", line=1, key="zero_optimization.stage")
    checked = Plan([PlannedTechnique("fsdp", shared), PlannedTechnique("zero-3", shared)])
    assert only(check(K, checked), "FTM101").locations == (shared,)


def test_empty_plan_passes() -> None:
    report = check(K, Plan())
    assert report == Report("pass", 7, ())


# --- registry and purity


def test_rule_registry_is_well_formed() -> None:
    assert list(RULES) == sorted(RULES)
    names = [rule.name for rule in RULES.values()]
    assert len(set(names)) == len(names)
    for rule_id, rule in RULES.items():
        assert re.fullmatch(r"FTM[1-9]\d\d", rule_id)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name)
        assert rule.severity in SEVERITIES
        assert rule.description.endswith(".")
        assert len(rule.description) <= 100


def test_every_rule_is_produced_by_some_plan() -> None:
    knowledge = sample.knowledge(
        cells=EXTRA_CELLS,
        add=[PairFact("fsdp", "zero-infinity", "compatible", confidence="low")],
    )
    produced = set(rules(check(knowledge, BUSY)))
    produced |= set(rules(check(knowledge, plan(["fsdp", "zero-infinity"]))))
    produced |= set(rules(check(knowledge, plan(["qlora", "zero-3"], **GOOD_PINS))))
    produced |= set(rules(check(knowledge, plan(["qlora", "zero-3"]))))  # no pins at all
    produced |= set(rules(check(knowledge, plan(["dora", "zero-1", "zero-infinity"]))))
    produced |= set(rules(check(knowledge, plan(["fsdp"], ["reduce-cost", "reduce-memory"]))))
    needs = Requirement("fsdp.use_orig_params", "equals", False, text="use_orig_params off")
    nice = Requirement("fsdp.cpu_ram_efficient_loading", "equals", True, level="recommended")
    fact = PairFact("lora", "fsdp", "compatible", requirements=(needs, nice))
    required = sample.knowledge(add=[fact])
    for value in (True, None, False):  # violated, undetermined, met
        job = plan(["lora", "fsdp"])
        if value is not None:
            where = Location("accelerate.yaml", 7, "fsdp_config.fsdp_use_orig_params")
            job.add_setting(PlannedSetting("fsdp.use_orig_params", value, where))
            job.add_setting(PlannedSetting("fsdp.cpu_ram_efficient_loading", False, where))
        produced |= set(rules(check(required, job)))
    # The model, offering and fit rules (FTM3xx, FTM4xx) are not the pair engine's: their own
    # tests (tests/offerings, tests/compat/test_fit.py) produce them.
    assert produced == {rule for rule in RULES if rule < "FTM300"}


COMPAT = Path(__file__).resolve().parents[2] / "service" / "compat"
PURE = {"__future__", "packaging", "service.detect.plan", "service.vocabulary", "service.compat"}
SIBLINGS = {"knowledge", "versions", "findings", "requirements"}


@pytest.mark.parametrize("module", ["rules", "knowledge", "versions", "findings", "requirements"])
def test_rules_modules_import_only_the_standard_library_packaging_plan_and_vocabulary(
    module: str,
) -> None:
    tree = ast.parse((COMPAT / f"{module}.py").read_text())
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    for name in imported:
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or any(
            name == pure or name.startswith(f"{pure}.") for pure in PURE
        )
        assert allowed, f"{module}.py imports {name}"
        if name.startswith("service.compat."):
            assert name.removeprefix("service.compat.") in SIBLINGS
