"""PATCH /v1/matrix refused: one 422 lists the rows that did not parse and the unknown ids of
those that did, in row order, bounded like every other 422; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.web.problems import MAX_ERRORS
from tests.helpers import Headers, audit_rows
from tests.published import CURRENT

CSV = (
    "scenario,technique,support\r\n"
    "qa-tasks,lora,no\r\n"  # fine on its own
    "qa-tasks,lorra,yes\r\n"  # an unknown technique
    "qa-tasks,qlora,maybe\r\n"  # not a support level
    "qa-taks,dora,no\r\n"  # an unknown scenario
)
JSON_CELLS = [
    {"scenario": "qa-tasks", "technique": "lora", "support": "no"},
    {"scenario": "qa-tasks", "technique": "lorra", "support": "yes"},
    {"scenario": "qa-tasks", "technique": "qlora", "support": "maybe"},
    {"scenario": "qa-taks", "technique": "dora", "support": "no"},
]
MARKDOWN = "|Scenario|LoRA|LoRRA|\n|-|-|-|\n|qa-tasks|No|Yes|\n|nlp-tasks|maybe||\n"
"""Line 3 writes to an unknown technique column; line 4 has a bad level."""


def patch(client: TestClient, h: Headers, content_type: str, body: str) -> Any:
    return client.patch(
        "/v1/matrix", content=body.encode(), headers=h(**{"Content-Type": content_type})
    )


def where(problem: dict[str, Any]) -> list[tuple[int, str]]:
    return [(e["row"], e["location"]) for e in problem["errors"]]


def assert_nothing_stored(client: TestClient, admin_key: str) -> None:
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
    lora = client.get("/v1/matrix/qa-tasks/lora").json()["cell"]
    assert lora["support"] == "yes"  # the one good row was not written either
    [row] = audit_rows(client, admin_key)
    assert (row["outcome"], row["status"], row["revision"]) == ("refused", 422, None)


@pytest.mark.parametrize(
    ("content_type", "body", "first"),
    [("text/csv", CSV, 3), ("application/json", json.dumps({"cells": JSON_CELLS}), 2)],
    ids=["csv", "json"],
)
def test_parse_errors_and_unknown_ids_come_in_one_answer(
    client: TestClient, h: Headers, admin_key: str, content_type: str, body: str, first: int
) -> None:
    response = patch(client, h, content_type, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    # CSV rows are numbered by line (the header is line 1), JSON cells from 1.
    assert where(problem) == [(first, "technique"), (first + 1, "support"),
                              (first + 2, "scenario")]  # fmt: skip
    technique, support, scenario = problem["errors"]
    assert technique["input"] == "lorra"
    assert "lora" in technique["allowed"]
    assert "Did you mean 'lora'?" in technique["message"]
    assert support["input"] == "maybe"
    assert "yes" in support["allowed"]
    assert scenario["input"] == "qa-taks"
    assert "Did you mean 'qa-tasks'?" in scenario["message"]
    assert problem["detail"] == "3 row(s) are invalid; nothing was changed."
    assert_nothing_stored(client, admin_key)


def test_a_markdown_table_reports_both_kinds_too(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    response = patch(client, h, "text/markdown", MARKDOWN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert where(problem) == [(3, "technique"), (4, "support")]
    assert problem["errors"][0]["input"] == "LoRRA"
    assert_nothing_stored(client, admin_key)


def test_many_errors_of_both_kinds_are_bounded_and_counted(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    ids = [s["id"] for s in client.get("/v1/scenarios").json()["items"]]
    bad_levels = [f"{s},lora,maybe" for s in ids]  # rows 2 .. len(ids) + 1
    unknown = [f"nowhere-{i},qlora,yes" for i in range(MAX_ERRORS)]  # the rows after them
    lines = ["scenario,technique,support", *bad_levels, *unknown]
    response = patch(client, h, "text/csv", "\r\n".join(lines) + "\r\n")
    assert response.status_code == 422, response.text
    problem = response.json()
    total = len(bad_levels) + len(unknown)
    assert (problem["errors_total"], len(problem["errors"])) == (total, MAX_ERRORS)
    assert problem["detail"] == f"{total} row(s) are invalid; nothing was changed."
    # The first MAX_ERRORS rows in order: every bad level, then the first unknown scenarios.
    expected = [(row, "support") for row in range(2, len(ids) + 2)]
    expected += [(row, "scenario") for row in range(len(ids) + 2, MAX_ERRORS + 2)]
    assert where(problem) == expected
    assert_nothing_stored(client, admin_key)


def test_a_body_that_parses_nowhere_is_still_one_422_without_lookups(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    response = patch(client, h, "text/csv", "scenario,technic,support\r\nqa-tasks,lorra,yes\r\n")
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert where(response.json()) == [(1, "header"), (1, "header")]  # unknown, then missing
    assert all("lorra" not in json.dumps(e) for e in errors)  # no row was looked up
    assert_nothing_stored(client, admin_key)


def test_only_parse_errors_with_good_rows_still_write_nothing(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    body = "scenario,technique,support\r\nqa-tasks,lora,no\r\nqa-tasks,qlora,maybe\r\n"
    response = patch(client, h, "text/csv", body)
    assert response.status_code == 422, response.text
    assert where(response.json()) == [(3, "support")]
    assert_nothing_stored(client, admin_key)


def test_a_dry_run_gets_the_same_answer(client: TestClient, h: Headers, admin_key: str) -> None:
    response = client.patch(
        "/v1/matrix",
        params={"dry_run": "true"},
        content=CSV.encode(),
        headers=h(**{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 422, response.text
    assert where(response.json()) == [(3, "technique"), (4, "support"), (5, "scenario")]
    assert client.get("/v1/revisions").json()["revision"] == CURRENT
