"""GitHub Actions output: workflow-command annotations within GitHub's per-step limits, and the
Markdown step summary."""

from __future__ import annotations

import re

import pytest

from service.compat.findings import RULES, Finding, Outcome, Report, Severity
from service.compat.formats import github
from service.compat.formats.github import ANNOTATIONS_PER_KIND
from service.compat.output import RULES_URI, render, step_summary
from service.detect.plan import Location
from tests.compat.outputs import (
    ACCELERATE,
    FILES,
    ISSUE,
    PEFT_DEEPSPEED,
    PEFT_RELEASE,
    SKIPPED,
    SOURCE,
    detected_plan,
    fail_report,
    one,
    pass_report,
)

COMMAND = re.compile(r"^::(error|warning|notice) ")

# --- annotations


def test_github_annotates_each_finding_at_its_first_location() -> None:
    assert render(fail_report(), "github", files=FILES).splitlines() == [
        "::warning title=FTM105 pair-unknown::Nothing is known about galore + qlora.",
        "::notice file=axolotl.yml,title=FTM203 scenario-unknown::Whether dora suits"
        " reduce-memory is not known.",
        "::warning file=axolotl.yml,line=12,title=FTM104 pair-caveats::qlora + zero-3 works only"
        " with the settings below.%0Afix: Add the required settings.%0Asetting: zero3_init_flag:"
        " true in the Accelerate DeepSpeed config.%0Asetting: bnb_4bit_quant_storage equal to"
        " the model dtype.%0Adetail: Supported since peft 0.10.0."
        f"%0Aevidence: {PEFT_DEEPSPEED}%0Aevidence: {ACCELERATE}%0Aevidence: {ISSUE}1"
        "%0Aevidence: +1 more in --format json",
        "::error file=requirements.txt,line=3,title=FTM102 pair-version-unmet::peft 0.9.0 is"
        " below 0.10.0, the minimum at which qlora + zero-3 works.%0Afix: Pin peft>=0.10.0."
        f"%0Aevidence: {PEFT_RELEASE}%0Aalso: axolotl.yml:4",
    ]


def test_github_escapes_data_and_properties() -> None:
    finding = Finding(
        "FTM101",
        "error",
        "100% sure: a\r\nb, c",
        ("a", "b"),
        fix="Use 50% less.",
        locations=(Location("configs/a,b:c%d\nx.yml", 7),),
    )
    assert render(one(finding), "github") == (
        "::error file=configs/a%2Cb%3Ac%25d%0Ax.yml,line=7,title=FTM101 pair-incompatible"
        "::100%25 sure: a%0D%0Ab, c%0Afix: Use 50%25 less.\n"
    )
    # Titles go through the same property escaping as file names.
    assert github.escape_property("FTM1:0,2%\r\n") == "FTM1%3A0%2C2%25%0D%0A"
    assert github.escape_data("a:b,c%\r\n") == "a:b,c%25%0D%0A"


def test_github_without_findings_prints_nothing() -> None:
    assert render(pass_report(), "github") == ""


def test_github_omits_a_missing_or_impossible_line() -> None:
    finding = Finding("FTM101", "error", "m", ("a", "b"), locations=(Location("f.yml", 0),))
    expected = "::error file=f.yml,title=FTM101 pair-incompatible::m\n"
    assert render(one(finding), "github") == expected


def many(errors: int, warnings: int, notes: int) -> Report:
    """A report with that many findings of each severity, each on its own line of one file."""
    kinds: tuple[tuple[Severity, str, int], ...] = (
        ("error", "FTM101", errors),
        ("warning", "FTM105", warnings),
        ("info", "FTM203", notes),
    )
    findings = tuple(
        Finding(
            rule,
            severity,
            f"{severity} {n}.",
            ("a", "b"),
            locations=(Location(f"{severity}.yml", n),),
        )
        for severity, rule, count in kinds
        for n in range(1, count + 1)
    )
    verdict: Outcome = "fail" if errors else "warn" if warnings else "pass"
    return Report(verdict, 3, findings)


def annotated(text: str) -> dict[str, int]:
    kinds = [m.group(1) for line in text.splitlines() if (m := COMMAND.match(line))]
    return {kind: kinds.count(kind) for kind in ("error", "warning", "notice")}


@pytest.mark.parametrize(
    ("errors", "warnings", "notes"), [(10, 10, 10), (0, 0, 0), (3, 10, 1), (1, 0, 10)]
)
def test_up_to_ten_of_each_kind_are_all_annotated(errors: int, warnings: int, notes: int) -> None:
    text = render(many(errors, warnings, notes), "github")
    assert annotated(text) == {"error": errors, "warning": warnings, "notice": notes}
    assert "not annotated" not in text


def test_past_ten_of_a_kind_one_summary_annotation_and_the_rest_as_log_lines() -> None:
    lines = render(many(13, 11, 2), "github").splitlines()
    # The summary takes one error slot: 9 errors, the summary, 10 warnings, 2 notices.
    assert annotated("\n".join(lines)) == {"error": 10, "warning": 10, "notice": 2}
    assert lines[0] == (
        "::error title=ftmatrix%3A 5 findings not annotated::GitHub shows 10 annotations of each"
        " kind per step, so 4 errors, 1 warning more are listed in this step's log only"
        " (ftmatrix check --format json lists all)."
    )
    logged = [x for x in lines if x.startswith("ftmatrix: ")]
    assert logged == [
        "ftmatrix: error.yml:10: error FTM101 [pair-incompatible] error 10.",
        "ftmatrix: error.yml:11: error FTM101 [pair-incompatible] error 11.",
        "ftmatrix: error.yml:12: error FTM101 [pair-incompatible] error 12.",
        "ftmatrix: error.yml:13: error FTM101 [pair-incompatible] error 13.",
        "ftmatrix: warning.yml:11: warning FTM105 [pair-unknown] warning 11.",
    ]
    # Every finding is in the log once, as an annotation or as a plain line.
    assert len(lines) == 1 + 13 + 11 + 2
    assert ANNOTATIONS_PER_KIND == 10


def test_overflowing_notes_alone_put_the_summary_among_the_notices() -> None:
    lines = render(many(0, 1, 12), "github").splitlines()
    assert lines[0].startswith("::notice title=ftmatrix%3A 3 findings not annotated::")
    assert annotated("\n".join(lines)) == {"error": 0, "warning": 1, "notice": 10}


# --- the step summary


def test_step_summary_is_a_markdown_table_in_file_order() -> None:
    text = step_summary(fail_report(), source=SOURCE)
    lines = text.splitlines()
    assert lines[:3] == [
        "### ftmatrix check: fail",
        "",
        "1 error, 2 warnings, 1 note (data revision 3, offline snapshot snapshot.json)."
        " At `--fail-on warn` the check fails.",
    ]
    assert lines[4:6] == ["| Severity | Rule | Where | Finding |", "| --- | --- | --- | --- |"]
    rows = lines[6:]
    assert rows[0] == (
        f"| warning | [FTM105]({RULES_URI}#ftm105) pair-unknown | &lt;plan&gt; |"
        " Nothing is known about galore + qlora. |"
    )
    assert rows[2].startswith(f"| warning | [FTM104]({RULES_URI}#ftm104) pair-caveats |")
    assert "<br>setting: zero3\\_init\\_flag: true in the Accelerate DeepSpeed config." in rows[2]
    assert rows[3] == (
        f"| error | [FTM102]({RULES_URI}#ftm102) pair-version-unmet | requirements.txt:3 |"
        " peft 0.9.0 is below 0.10.0, the minimum at which qlora + zero-3 works.<br>"
        "fix: Pin peft>=0.10.0. |".replace(">=", "&gt;=")
    )
    assert len(rows) == 4
    assert text.endswith("|\n")


def test_step_summary_says_whether_the_threshold_fails() -> None:
    warning_only = Report("warn", 3, fail_report().findings[1:3])
    assert "At `--fail-on fail` the check passes." in step_summary(warning_only, fail_on="fail")
    assert "At `--fail-on warn` the check fails." in step_summary(warning_only)
    empty = step_summary(pass_report())
    assert empty == (
        "### ftmatrix check: pass\n\nno findings (data revision 3). At `--fail-on warn` the"
        " check passes.\n"
    )
    with pytest.raises(ValueError, match="fail_on"):
        step_summary(pass_report(), fail_on="never")
    with pytest.raises(ValueError, match="max_rows"):
        step_summary(pass_report(), max_rows=-1)


def test_step_summary_caps_rows_and_lists_the_plan_collapsed() -> None:
    text = step_summary(many(30, 30, 0), plan=detected_plan(), skipped=SKIPPED, max_rows=5)
    lines = text.splitlines()
    assert sum(1 for x in lines if x.startswith("| error ")) == 5
    assert (
        "Showing 5 of 60 findings, in file order; `ftmatrix check --format json` lists all."
        in lines
    )
    start = lines.index(
        "<details><summary>Checked: 3 techniques, 1 scenario, 2 libraries, 4 settings, 1 model,"
        " 1 note, 1 skipped file</summary>"
    )
    assert lines[start + 2] == "- technique qlora at axolotl.yml:4: adapter: qlora"
    assert "- skipped docker-compose.yml: not a training config" in lines
    assert lines[-1] == "</details>"


def test_step_summary_escapes_markdown_and_html_from_configs() -> None:
    hostile = Finding(
        "FTM101",
        "error",
        "a | b <script>x</script> *bold* [link](http://e) `code`\nnext",
        ("a", "b"),
        locations=(Location("x|<y>_z.yml", 2),),
    )
    row = step_summary(one(hostile)).splitlines()[-1]
    assert row == (
        f"| error | [FTM101]({RULES_URI}#ftm101) pair-incompatible | x\\|&lt;y&gt;\\_z.yml:2 |"
        " a \\| b &lt;script&gt;x&lt;/script&gt; \\*bold\\* \\[link\\](http://e) \\`code\\` next |"
    )
    assert row.count(" | ") == 3
    long = Finding("FTM101", "error", "x" * 1000, ("a", "b"))
    cell = step_summary(one(long)).splitlines()[-1].split(" | ")[-1]
    assert len(cell) <= 302
    assert cell.endswith("… |")


def test_every_rule_links_to_its_own_anchor() -> None:
    for rule_id in RULES:
        finding = Finding(rule_id, RULES[rule_id].severity, "m", ("a",))
        assert f"]({RULES_URI}#{rule_id.lower()})" in step_summary(one(finding))
