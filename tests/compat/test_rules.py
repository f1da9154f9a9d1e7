"""check_plan on pairs: incompatible, caveats, unknown, inherited, versions; errors; fail_on."""

from __future__ import annotations

import pytest

from service.compat.rules import BadVersion, PairFact, Report, check_plan, fail_on
from service.detect.plan import Location, Plan
from tests.compat import sample
from tests.compat.sample import GOOD_PINS, at, check, only, plan, rules

K = sample.knowledge()


# --- versions


def test_old_peft_fails_naming_the_library_and_the_minimum() -> None:
    report = check(K, plan(["qlora", "zero-3"], **{**GOOD_PINS, "trl": "0.12.0", "peft": "0.9.0"}))
    assert report.verdict == "fail"
    unmet = only(report, "FTM102")
    assert unmet.severity == "error"
    assert "peft 0.9.0" in unmet.message
    assert ">=0.10.0" in unmet.message
    assert unmet.fix == "upgrade peft to >=0.10.0 (recommended >0.13.0)"
    assert unmet.techniques == ("qlora", "zero-3")
    assert unmet.locations == (
        Location("requirements.txt", line=4),
        at("qlora"),
        at("zero-3"),
    )
    assert "https://github.com/huggingface/peft/pull/1550" in unmet.evidence


def test_current_pins_warn_for_caveats_but_do_not_fail() -> None:
    report = check(K, plan(["qlora", "zero-3"], **GOOD_PINS))
    assert report.verdict == "warn"
    assert "FTM102" not in rules(report)
    caveats = only(report, "FTM104")
    assert caveats.severity == "warning"
    assert caveats.message == "qlora + zero-3 combine only with 2 required settings and 2 caveats."
    assert caveats.settings == sample.QLORA_ZERO3_SETTINGS
    assert caveats.details[0] == "Supported with caveats since PEFT v0.10.0."
    assert len(caveats.details) == 3
    assert caveats.fix == "apply the required settings"
    # trl is the one required library the plan does not pin.
    unverified = only(report, "FTM103")
    assert unverified.message.startswith("Could not verify trl for qlora + zero-3")
    # peft 0.13.0 meets >=0.10.0 but not the recommended >0.13.0.
    below = only(report, "FTM107")
    assert (below.severity, below.fix) == ("info", "upgrade peft to >0.13.0")
    assert below.locations[0] == Location("requirements.txt", line=4)


def test_recommended_pins_leave_only_the_caveats() -> None:
    pins = {**GOOD_PINS, "peft": "0.14.0", "bitsandbytes": "0.43.3", "trl": "0.12.0"}
    assert rules(check(K, plan(["qlora", "zero-3"], **pins))) == ["FTM104"]


def test_a_pin_below_a_recommendation_for_an_unrequired_library_is_info() -> None:
    pins = {**GOOD_PINS, "peft": "0.14.0", "bitsandbytes": "0.43.3", "trl": "0.12.0"}
    knowledge = sample.knowledge(
        add=[PairFact("qlora", "zero-infinity", "compatible", recommended_versions={"trl": ">1"})]
    )
    report = check(knowledge, plan(["qlora", "zero-infinity"], **pins))
    assert rules(report) == ["FTM107"]
    assert report.verdict == "pass"


def test_no_pins_at_all_lists_the_versions_as_a_note() -> None:
    report = check(K, plan(["qlora", "zero-3"]))
    listed = only(report, "FTM112")
    assert listed.severity == "info"
    assert "FTM103" not in rules(report)
    assert listed.message.startswith("qlora + zero-3 need accelerate>=0.28.0")
    assert listed.message.endswith("no library versions were given to check.")
    assert listed.fix is not None
    assert "peft>=0.10.0 (recommended >0.13.0)" in listed.fix


def test_no_pins_cannot_be_verified() -> None:
    report = check(K, plan(["qlora", "zero-3"], torch="2.3.0"))  # some pins, not those
    assert report.verdict == "warn"
    unverified = only(report, "FTM103")
    assert unverified.severity == "warning"
    assert unverified.message == (
        "Could not verify accelerate, bitsandbytes, peft, transformers, trl for qlora + zero-3:"
        " the plan pins no version."
    )
    assert unverified.fix is not None
    assert unverified.fix.startswith("pin accelerate>=0.28.0 (recommended >=1.0.1), ")
    assert "peft>=0.10.0 (recommended >0.13.0)" in unverified.fix
    assert unverified.locations == (at("qlora"), at("zero-3"))


def test_library_names_match_after_normalization() -> None:
    knowledge = sample.knowledge(
        add=[PairFact("qlora", "zero-infinity", "compatible", versions={"Flash_Attn": ">=2"})]
    )
    report = check(knowledge, plan(["qlora", "zero-infinity"], flash_attn="1.0"))
    assert "flash-attn 1.0" in only(report, "FTM102").message


def test_versions_are_not_checked_for_verdicts_without_a_working_range() -> None:
    knowledge = sample.knowledge(
        add=[PairFact("qlora", "zero-infinity", "incompatible", versions={"peft": ">=9"})]
    )
    assert rules(check(knowledge, plan(["qlora", "zero-infinity"], peft="0.1"))) == ["FTM101"]


# --- pair verdicts


@pytest.mark.parametrize(
    ("techniques", "message"),
    [
        (["deepspeed", "fsdp"], "deepspeed + fsdp cannot be combined."),
        (["fsdp", "zero-3"], "fsdp + zero-3 (inherited from fsdp + deepspeed) cannot be combined."),
        (
            ["deepspeed", "zero", "zero-3", "fsdp"],
            "fsdp + zero-3 (inherited from fsdp + deepspeed) cannot be combined.",
        ),
    ],
)
def test_deepspeed_with_fsdp_fails_once(techniques: list[str], message: str) -> None:
    report = check(K, plan(techniques))
    assert report.verdict == "fail"
    incompatible = only(report, "FTM101")
    assert incompatible.message == message
    assert incompatible.fix is not None
    assert incompatible.fix.startswith("use either ")
    assert incompatible.details == ("Mutually exclusive in Axolotl.",)
    assert incompatible.evidence == ("https://github.com/axolotl-ai-cloud/axolotl/pull/1388",)


@pytest.mark.parametrize(
    "techniques",
    [
        ["lora", "qlora"],
        ["lora", "dora"],
        ["deepspeed", "zero"],
        ["deepspeed", "zero", "zero-3"],
        ["zero", "zero-3"],
        ["peft", "lora"],
        ["qlora", "zero-2"],
        ["zero-1", "qlora", "lora", "deepspeed"],
    ],
)
def test_families_and_compatible_pairs_pass_silently(techniques: list[str]) -> None:
    report = check(K, plan(techniques))
    assert (report.verdict, report.findings) == ("pass", ())


def test_explicit_fact_between_a_technique_and_its_ancestor_is_checked() -> None:
    knowledge = sample.knowledge(add=[PairFact("zero", "zero-infinity", "caveats")])
    report = check(knowledge, plan(["zero", "zero-infinity"]))
    assert only(report, "FTM104").techniques == ("zero", "zero-infinity")


def test_a_generic_mention_is_represented_by_the_specific_technique() -> None:
    pins = {**GOOD_PINS, "trl": "0.12.0"}
    specific = check(K, plan(["qlora", "zero-3"], **pins))
    generic = check(K, plan(["deepspeed", "lora", "zero", "qlora", "zero-3"], **pins))
    # No "nothing known about qlora + zero" noise: the plan uses zero-3.
    assert generic.findings == specific.findings


def test_explicit_child_fact_beats_the_parent_fact() -> None:
    parent = PairFact("qlora", "zero", "incompatible", note="parent fact")
    pins = {**GOOD_PINS, "trl": "0.12.0"}
    explicit = check(sample.knowledge(add=[parent]), plan(["qlora", "zero-3"], **pins))
    assert explicit.verdict == "warn"
    assert "FTM101" not in rules(explicit)
    inherited = check(
        sample.knowledge(add=[parent], drop=["qlora+zero-3", "lora+zero-3"]),
        plan(["qlora", "zero-3"], **pins),
    )
    assert inherited.verdict == "fail"
    assert only(inherited, "FTM101").message == (
        "qlora + zero-3 (inherited from qlora + zero) cannot be combined."
    )


def test_findings_resting_on_one_fact_are_reported_once() -> None:
    parent = PairFact(
        "qlora",
        "zero",
        "caveats",
        caveats=("one",),
        versions={"peft": ">=0.10.0"},
        sources=("https://example.org/qlora-zero",),
    )
    knowledge = sample.knowledge(
        add=[parent], drop=["qlora+zero-2", "qlora+zero-3", "lora+zero-2", "lora+zero-3"]
    )
    report = check(knowledge, plan(["qlora", "zero", "zero-2", "zero-3"]))
    caveats = only(report, "FTM104")
    assert caveats.techniques == ("qlora", "zero-2", "zero-3")
    assert caveats.message == (
        "qlora + zero-2, qlora + zero-3 (inherited from qlora + zero) combine only with 1 caveat."
    )
    assert caveats.locations == (at("qlora"), at("zero-2"), at("zero-3"))
    assert only(report, "FTM112").techniques == ("qlora", "zero-2", "zero-3")
    # The two stages themselves: nothing is known, and deepspeed + zero is not inherited.
    assert only(report, "FTM105").techniques == ("zero-2", "zero-3")


def test_unknown_pair_warns_not_verified() -> None:
    report = check(K, plan(["zero-infinity", "qlora"]))
    unknown = only(report, "FTM105")
    assert (
        unknown.message == "Nothing is known about combining qlora + zero-infinity; not verified."
    )
    assert (unknown.evidence, unknown.details, unknown.fix) == ((), (), None)
    assert report.verdict == "warn"


@pytest.mark.parametrize(
    ("techniques", "add", "rule", "message"),
    [
        (
            ["zero-plus-plus", "qlora"],
            (),
            "FTM105",
            "Nothing is known about combining qlora + zero-plus-plus; not verified"
            " (low confidence).",
        ),
        (
            ["dora", "zero-3"],
            (),
            "FTM104",
            "dora + zero-3 combine only with 1 caveat (low confidence).",
        ),
        (
            ["fsdp", "zero-infinity"],
            (PairFact("fsdp", "zero-infinity", "compatible", confidence="low"),),
            "FTM106",
            "fsdp + zero-infinity are recorded as compatible with low confidence; verify before"
            " use.",
        ),
        (
            ["fsdp", "zero-infinity"],
            (PairFact("fsdp", "zero-infinity", "incompatible", confidence="low"),),
            "FTM101",
            "fsdp + zero-infinity cannot be combined (low confidence).",
        ),
    ],
)
def test_low_confidence_is_said_and_never_lowers_a_severity(
    techniques: list[str], add: tuple[PairFact, ...], rule: str, message: str
) -> None:
    report = check(sample.knowledge(add=add), plan(techniques))
    assert rules(report) == [rule]
    assert report.findings[0].message == message


def test_inherited_compatible_pair_is_info_only() -> None:
    report = check(K, plan(["dora", "zero-1"]))
    assert report.verdict == "pass"
    inherited = only(report, "FTM108")
    assert inherited.message == (
        "dora + zero-1 (inherited from lora + zero-1) are assumed compatible;"
        " not verified for this pair."
    )


def test_compatible_fact_with_required_settings_warns_with_them() -> None:
    knowledge = sample.knowledge(
        add=[PairFact("fsdp", "zero-infinity", "compatible", settings=("set x",))]
    )
    caveats = only(check(knowledge, plan(["fsdp", "zero-infinity"])), "FTM104")
    assert caveats.message == "fsdp + zero-infinity combine only with 1 required setting."
    assert caveats.settings == ("set x",)


def test_caveats_fact_without_text_still_warns() -> None:
    knowledge = sample.knowledge(add=[PairFact("fsdp", "zero-infinity", "caveats")])
    caveats = only(check(knowledge, plan(["fsdp", "zero-infinity"])), "FTM104")
    assert caveats.message == "fsdp + zero-infinity combine only with caveats."
    assert (caveats.settings, caveats.fix) == ((), None)


def test_not_applicable_facts_say_nothing() -> None:
    assert check(K, plan(["peft", "qlora"])).findings == ()


# --- errors


def test_bad_version_raises_bad_version_even_for_an_unrelated_library() -> None:
    with pytest.raises(BadVersion) as caught:
        check_plan(K, plan(["qlora", "zero-3"], peft="0.13.0", torch="nightly"))
    assert (caught.value.library, caught.value.value) == ("torch", "nightly")


@pytest.mark.parametrize(
    ("checked", "match"),
    [
        (plan(["qlora", "lorax", "abc"]), "unknown technique ids: abc, lorax"),
        (plan(["qlora"], ["reduce-cost", "nope"]), "unknown scenario ids: nope"),
        (plan(["lorax"], peft="bad"), "unknown technique ids: lorax"),
    ],
)
def test_unknown_ids_raise_before_versions_are_read(checked: Plan, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        check_plan(K, checked)
    assert not isinstance(caught.value, BadVersion)


@pytest.mark.parametrize(
    ("verdict", "threshold", "fails"),
    [
        ("pass", "warn", False),
        ("warn", "warn", True),
        ("fail", "warn", True),
        ("pass", "fail", False),
        ("warn", "fail", False),
        ("fail", "fail", True),
    ],
)
def test_fail_on(verdict: str, threshold: str, fails: bool) -> None:
    report = Report(verdict, 1, ())  # type: ignore[arg-type]
    assert fail_on(report, threshold) is fails  # type: ignore[arg-type]


def test_fail_on_rejects_other_thresholds() -> None:
    with pytest.raises(ValueError, match="threshold"):
        fail_on(Report("pass", 1, ()), "error")  # type: ignore[arg-type]
