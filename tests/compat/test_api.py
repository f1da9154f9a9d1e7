"""Compatibility over HTTP: pairs, verdicts, plan checks, pair writes, the export."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.compat import document, rules
from service.compat.service import report_out
from service.detect.plan import Location, Plan, PlannedLibrary, PlannedSetting, PlannedTechnique
from tests.helpers import Headers, audit_rows
from tests.published import CURRENT

CURRENT_PINS = {
    "peft": "0.13.2",
    "bitsandbytes": "0.44.1",
    "accelerate": "1.0.1",
    "transformers": "4.45.0",
    "trl": "0.12.0",
}


def test_qlora_with_zero_3_has_caveats_and_settings(client: TestClient) -> None:
    body = client.get(
        "/v1/compatibility", params=[("technique", "QLoRA"), ("technique", "ZeRO-3")]
    ).json()
    assert body["revision"] == CURRENT
    assert body["techniques"] == ["qlora", "zero-3"]
    assert body["overall"] == "caveats"
    [pair] = body["pairs"]
    assert (pair["verdict"], pair["confidence"], pair["inherited_from"]) == (
        "caveats",
        "high",
        None,
    )
    assert pair["versions"]["peft"] == ">=0.10.0"
    assert pair["versions"]["bitsandbytes"] == ">=0.43.0"
    assert any("zero3_init_flag" in setting for setting in pair["settings"])
    assert any("bnb_4bit_quant_storage" in setting for setting in pair["settings"])
    assert "https://github.com/huggingface/peft/pull/1550" in pair["sources"]
    same = client.get("/v1/pairs/zero-3/qlora").json()
    assert same["verdict"] == "caveats"


def test_inherited_facts_are_shown_as_such(client: TestClient) -> None:
    pair = client.get("/v1/pairs/dora/zero-offload").json()
    assert pair["inherited_from"] == ["lora", "zero-offload"]
    assert pair["verdict"] == "compatible"
    assert pair["confidence"] == "medium"


@pytest.mark.parametrize(
    ("techniques", "overall"),
    [
        (["deepspeed", "fsdp"], "incompatible"),
        (["qlora", "zero-2"], "compatible"),
        (["lora", "qlora"], "not_applicable"),
        (["zero-plus-plus", "qlora"], "unknown"),
        (["qlora", "zero-2", "fsdp", "deepspeed"], "incompatible"),
    ],
)
def test_overall_verdicts(client: TestClient, techniques: list[str], overall: str) -> None:
    body = client.get("/v1/compatibility", params=[("technique", t) for t in techniques]).json()
    assert body["overall"] == overall
    assert len(body["pairs"]) == len(techniques) * (len(techniques) - 1) // 2


def test_compatibility_needs_two_known_techniques(client: TestClient) -> None:
    assert client.get("/v1/compatibility", params={"technique": "lora"}).status_code == 422
    unknown = client.get(
        "/v1/compatibility", params=[("technique", "lora"), ("technique", "galor")]
    )
    assert unknown.status_code == 404
    assert "fsdp" in unknown.json()["allowed"]


def check(client: TestClient, plan: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/checks", json=plan)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_old_peft_with_qlora_and_zero_3_fails_with_the_version_to_move_to(
    client: TestClient,
) -> None:
    body = check(client, {
        "techniques": ["qlora", "deepspeed", "zero", "zero-3"],
        "libraries": {"peft": {"version": "0.9.0", "file": "requirements.txt", "line": 3},
                      "bitsandbytes": "0.42.0"},
    })  # fmt: skip
    assert body["verdict"] == "fail"
    assert body["revision"] == CURRENT
    errors = [f for f in body["findings"] if f["severity"] == "error"]
    assert {f["rule"] for f in errors} == {"FTM102"}
    peft = next(f for f in errors if "peft" in f["message"])
    assert ">=0.10.0" in peft["fix"]
    assert peft["locations"][0] == {"file": "requirements.txt", "line": 3, "key": None}
    assert peft["evidence"]
    assert body["summary"]["error"] == len(errors)
    severities = [f["severity"] for f in body["findings"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_current_pins_pass_with_caveats(client: TestClient) -> None:
    body = check(client, {"techniques": ["qlora", "zero-3"], "libraries": CURRENT_PINS})
    assert body["verdict"] == "warn"
    rules_seen = {f["rule"] for f in body["findings"]}
    assert "FTM104" in rules_seen
    assert not {"FTM101", "FTM102"} & rules_seen
    caveat = next(f for f in body["findings"] if f["rule"] == "FTM104")
    assert any("zero3_init_flag" in s for s in caveat["settings"])


def test_declared_scenarios_are_checked(client: TestClient) -> None:
    body = check(
        client,
        {"techniques": ["qlora"], "scenarios": ["Reducing memory usage", "data-parallel-memory"]},
    )
    assert body["scenarios"] == ["reduce-memory", "data-parallel-memory"]
    [finding] = [f for f in body["findings"] if f["rule"] == "FTM201"]
    assert finding["scenario"] == "data-parallel-memory"
    assert body["verdict"] == "fail"


@pytest.mark.parametrize(
    ("plan", "location"),
    [
        ({"techniques": ["qlorra"]}, "body.techniques.0"),
        ({"techniques": ["qlora"], "scenarios": ["qa-taks"]}, "body.scenarios.0"),
        (
            {"techniques": ["qlora", "zero-3"], "libraries": {"peft": "latest"}},
            "body.libraries.peft",
        ),
        ({"techniques": []}, "body.techniques"),
        ({"techniques": ["qlora"], "extra": 1}, "body.extra"),
    ],
)
def test_bad_plans_are_422_naming_what_was_wrong(
    client: TestClient, plan: dict[str, Any], location: str
) -> None:
    response = client.post("/v1/checks", json=plan)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert location in [e["location"] for e in response.json()["errors"]]


def test_unknown_technique_in_a_plan_names_the_closest(client: TestClient) -> None:
    body = client.post("/v1/checks", json={"techniques": ["qlorra"]}).json()
    assert body["did_you_mean"] == "qlora"
    assert "zero-3" in body["allowed"]


def test_online_and_offline_checks_agree(client: TestClient) -> None:
    snapshot = client.get("/v1/export").json()
    assert snapshot["format"] == document.FORMAT
    assert snapshot["revision"] == CURRENT
    catalog = document.load(snapshot)
    plan = Plan()
    for t in ("qlora", "deepspeed", "zero", "zero-3"):
        plan.add_technique(PlannedTechnique(t))
    plan.libraries["peft"] = PlannedLibrary("peft", "0.9.0")
    plan.scenarios.append("reduce-memory")
    offline = report_out(rules.check_plan(catalog.knowledge, plan), plan).model_dump()
    online = check(
        client,
        {
            "techniques": ["qlora", "deepspeed", "zero", "zero-3"],
            "libraries": {"peft": "0.9.0"},
            "scenarios": ["reduce-memory"],
        },
    )
    assert online == offline


def test_pairs_are_written_like_everything_else(
    client: TestClient, h: Headers, admin_key: str
) -> None:
    fact = {
        "verdict": "incompatible",
        "note": "Test fact.",
        "versions": {"DeepSpeed": ">=0.14"},
        "sources": ["https://x.test/issue"],
        "confidence": "low",
    }
    dry = client.put(
        "/v1/pairs/zero-plus-plus/qlora", params={"dry_run": "true"}, json=fact, headers=h()
    )
    assert (dry.status_code, dry.json()["dry_run"]) == (200, True)
    assert client.get("/v1/pairs/qlora/zero-plus-plus").json()["verdict"] == "unknown"
    response = client.put("/v1/pairs/zero-plus-plus/qlora", json=fact, headers=h())
    assert response.status_code == 200, response.text
    [change] = response.json()["changes"]
    assert (change["op"], change["kind"], change["id"]) == (
        "update",
        "pair",
        "qlora+zero-plus-plus",
    )
    assert change["before"]["verdict"] == "unknown"
    pair = client.get("/v1/pairs/qlora/zero-plus-plus").json()
    assert (pair["verdict"], pair["confidence"], pair["versions"]) == (
        "incompatible", "low", {"deepspeed": ">=0.14"},
    )  # fmt: skip
    assert (
        client.get("/v1/pairs/qlora/zero-plus-plus", params={"at": CURRENT}).json()["verdict"]
        == "unknown"
    )
    [row] = audit_rows(client, admin_key, outcome="ok")
    assert row["action"] == "set_pair"
    reverted = client.post(f"/v1/revisions/{CURRENT + 1}/revert", headers=h(rev=CURRENT + 1))
    assert reverted.status_code == 201, reverted.text
    assert client.get("/v1/pairs/qlora/zero-plus-plus").json()["verdict"] == "unknown"


def test_new_pairs_and_bad_pair_writes(client: TestClient, h: Headers) -> None:
    created = client.put("/v1/pairs/fsdp/dora", json={"verdict": "compatible"}, headers=h())
    assert created.json()["changes"][0]["op"] == "update"  # dora + fsdp has a seeded fact
    new = client.put(
        "/v1/pairs/zero-1/dora", json={"verdict": "compatible"}, headers=h(rev=CURRENT + 1)
    )
    assert new.json()["changes"][0]["op"] == "create"
    bad = client.put(
        "/v1/pairs/lora/qlora",
        json={"verdict": "compatible", "versions": {"peft": "new"}},
        headers=h(rev=CURRENT + 2),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["location"] == "body.versions.peft"
    same = client.put(
        "/v1/pairs/lora/lora", json={"verdict": "compatible"}, headers=h(rev=CURRENT + 2)
    )
    assert same.status_code == 422
    verdict = client.put(
        "/v1/pairs/lora/fsdp", json={"verdict": "works"}, headers=h(rev=CURRENT + 2)
    )
    assert verdict.status_code == 422
    assert "incompatible" in verdict.json()["allowed"]


def test_checks_judge_the_settings_sent_like_the_offline_check(client: TestClient) -> None:
    settings: dict[str, dict[str, object]] = {
        "deepspeed.offload_optimizer": {"value": "nvme", "file": "ds.json", "line": 9},
        "deepspeed.zero_stage": {"value": 2, "file": "ds.json", "line": 5},
    }
    body = check(client, {"techniques": ["zero-2", "zero-offload"], "settings": settings})
    assert body["verdict"] == "fail"
    [unmet] = [f for f in body["findings"] if f["rule"] == "FTM109"]
    assert unmet["name"] == "pair-requirement-unmet"
    assert unmet["locations"][0] == {"file": "ds.json", "line": 9, "key": None}
    catalog = document.load(client.get("/v1/export").json())
    plan = Plan(techniques=[PlannedTechnique("zero-2"), PlannedTechnique("zero-offload")])
    for name, given in settings.items():
        where = Location(str(given["file"]), int(str(given["line"])))
        value = given["value"]
        assert isinstance(value, str | int)
        plan.add_setting(PlannedSetting(name, value, where))
    offline = report_out(rules.check_plan(catalog.knowledge, plan), plan).model_dump()
    assert body == offline
    bad = client.post(
        "/v1/checks", json={"techniques": ["fsdp"], "settings": {"fsdp.use_orig_param": {}}}
    )
    assert bad.status_code == 422


def test_pair_requirements_are_written_checked_and_served(client: TestClient, h: Headers) -> None:
    pair = client.get("/v1/pairs/qlora/fsdp").json()
    assert [r["setting"] for r in pair["requirements"]] == [
        "fsdp.cpu_ram_efficient_loading",
        "fsdp.use_orig_params",
    ]
    fact = {
        "verdict": "compatible",
        "sources": ["https://x.test/doc"],
        "requirements": [{"setting": "precision", "one_of": ["bf16", "fp32"], "text": "t"}],
    }
    written = client.put("/v1/pairs/zero-1/dora", json=fact, headers=h())
    assert written.status_code == 200, written.text
    stored = client.get("/v1/pairs/dora/zero-1").json()["requirements"]
    assert stored == [
        {"setting": "precision", "one_of": ["bf16", "fp32"], "text": "t", "sources": []}
    ]
    unknown = {**fact, "requirements": [{"setting": "nope", "equals": 1}]}
    refused = client.put("/v1/pairs/zero-2/dora", json=unknown, headers=h(rev=CURRENT + 1))
    assert refused.status_code == 422
    two = {**fact, "requirements": [{"setting": "precision", "equals": "bf16", "absent": True}]}
    refused = client.put("/v1/pairs/zero-2/dora", json=two, headers=h(rev=CURRENT + 1))
    assert refused.status_code == 422
