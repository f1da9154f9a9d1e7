"""The pure model/offering rules, on the shipped offline snapshot document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.compat.findings import Finding
from service.detect.plan import PlannedModel
from service.offerings import rules

SNAPSHOT = Path(__file__).resolve().parents[2] / "service" / "data" / "snapshot.json"


@pytest.fixture(scope="module")
def knowledge() -> rules.OfferingKnowledge:
    return rules.OfferingKnowledge.from_document(json.loads(SNAPSHOT.read_text("utf-8")))


def _rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def test_retired_model_names_its_date_and_replacement(knowledge: rules.OfferingKnowledge) -> None:
    (found,) = rules.check_model(knowledge, PlannedModel("microsoft/Phi-3-mini-4k-instruct"))
    assert found.rule == rules.MODEL_RETIRED
    assert found.severity == "warning"
    assert "2025-08-30" in found.message
    assert found.fix == "Move to phi-4-mini-instruct."
    assert found.evidence


def test_local_path_ending_in_a_repo_name_maps_to_the_model(
    knowledge: rules.OfferingKnowledge,
) -> None:
    assert knowledge.model("/models/Phi-4/") == "phi-4"
    assert rules.check_model(knowledge, PlannedModel("microsoft/phi-4"), ["lora"], "kaito") == []


def test_offering_that_cannot_tune_the_model(knowledge: rules.OfferingKnowledge) -> None:
    found = rules.check_model(
        knowledge, PlannedModel("phi-3-mini-4k-instruct"), [], "foundry-serverless-finetuning"
    )
    assert _rules(found) == [rules.MODEL_RETIRED, rules.OFFERING_CANNOT_TUNE_MODEL]
    assert "retired there on 2025-08-30" in found[1].message


def test_offering_without_the_technique(knowledge: rules.OfferingKnowledge) -> None:
    found = rules.check_model(knowledge, PlannedModel("phi-4"), ["dora"], "kaito")
    assert _rules(found) == [rules.OFFERING_LACKS_TECHNIQUE]
    assert found[0].techniques == ("dora",)
    assert "lora" in found[0].message


def test_a_platform_passes_when_one_of_its_offerings_fits(
    knowledge: rules.OfferingKnowledge,
) -> None:
    # Serverless cannot take Phi-3-small; managed compute tunes "some" models (any_model).
    found = rules.check_model(
        knowledge, PlannedModel("phi-3-small-8k-instruct"), [], "Azure AI Studio"
    )
    assert _rules(found) == [rules.MODEL_RETIRED]


def test_unknown_model_is_info_and_no_model_is_silent(knowledge: rules.OfferingKnowledge) -> None:
    (found,) = rules.check_model(knowledge, PlannedModel("org/never-heard-of"))
    assert found.rule == rules.MODEL_NOT_IN_CATALOG
    assert found.severity == "info"
    assert rules.check_model(knowledge, None) == []
    assert rules.check_model(knowledge, PlannedModel("phi-4"), [], "no-such-offering") == []


def test_every_rule_is_described() -> None:
    for rule in (rules.MODEL_RETIRED, rules.OFFERING_CANNOT_TUNE_MODEL,
                 rules.OFFERING_LACKS_TECHNIQUE, rules.MODEL_NOT_IN_CATALOG):  # fmt: skip
        described = rules.OFFERING_RULES[rule]
        assert described.name
        assert described.description
        assert described.help
