"""The errata revision (shared/reference/errata-2026-12.md): every correction shows in the
revision's diff with its source, history before it still reads the old texts, and the
migration's downgrade undoes exactly this revision."""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import db as migrate
from tests.helpers import Headers

ERRATA: Final = 7
"""The errata revision; the revision before it holds the facts as first shipped."""
BEFORE: Final = ERRATA - 1

OLD_PAGE = (
    "https://github.com/microsoft/Phi-3CookBook/blob/main/md/04.Fine-tuning/FineTuning_Scenarios.md"
)
PINNED_PAGE = (
    "https://github.com/microsoft/PhiCookBook/blob/c65518786ca64f35e7d37b46b894ca7249f698d8/"
    "md/03.FineTuning/FineTuning_Scenarios.md"
)
REVISED_PAGE = (
    "https://github.com/microsoft/PhiCookBook/blob/3ec6531165b2936b5f154e8709ab285b02cdcd2e/"
    "md/03.FineTuning/FineTuning_Scenarios.md"
)
PR_489 = "https://github.com/microsoft/PhiCookBook/pull/489"
UNSLOTH_373 = "https://github.com/unslothai/unsloth/issues/373"
UNSLOTH_541 = "https://github.com/unslothai/unsloth/issues/541"
ZERO_TUTORIAL = "https://github.com/deepspeedai/DeepSpeed/blob/master/docs/_tutorials/zero.md"
ACCELERATE_FSDP = (
    "https://github.com/huggingface/accelerate/blob/main/docs/source/concept_guides/"
    "fsdp_and_deepspeed.md"
)
DEEPSPEED_5631 = "https://github.com/deepspeedai/DeepSpeed/issues/5631"
LORA_GUIDE = "https://huggingface.co/docs/peft/developer_guides/lora"
DORA_REFERENCE = "https://huggingface.co/docs/peft/package_reference/lora_variant_dora"


def _changes(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    body = client.get(f"/v1/revisions/{ERRATA}").json()
    assert body["author"] == "ftmatrix seed"
    assert {c["op"] for c in body["changes"]} == {"update"}
    return {(c["kind"], c["id"]): c for c in body["changes"]}


def _library(libraries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [lib for lib in libraries if lib["name"].startswith(name)]
    return found


def test_the_reason_names_every_correction_and_its_source(client: TestClient) -> None:
    reason = client.get(f"/v1/revisions/{ERRATA}").json()["reason"]
    assert reason.startswith("Errata 2026-12 (shared/reference/errata-2026-12.md)")
    for item in range(1, 12):
        assert f"({item}) " in reason
    for source in (
        "https://github.com/huggingface/peft/pull/1625",
        PINNED_PAGE,
        REVISED_PAGE,
        UNSLOTH_541,
        ZERO_TUTORIAL,
        ACCELERATE_FSDP,
        DEEPSPEED_5631,
        DORA_REFERENCE,
    ):
        assert source in reason


def test_pair_corrections_carry_their_sources(client: TestClient) -> None:
    changes = _changes(client)
    # 1. PR #1625 was merged and shipped.
    peft_ds = changes["pair", "peft+deepspeed"]
    [old] = [c for c in peft_ds["before"]["caveats"] if "#1625" in c]
    [new] = [c for c in peft_ds["after"]["caveats"] if "#1625" in c]
    assert "was left open" in old
    assert "merged on 2024-04-12" in new
    assert "PEFT v0.11.0" in new
    assert "b0f1bb468ce58a26c1403db37e2ca8a76977b4c1" in new
    # 6. ZeRO-2 keeps whole parameters: DeepSpeed's tutorial is the source.
    assert ZERO_TUTORIAL in changes["pair", "qlora+zero-2"]["after"]["sources"]
    # 9. #5637 does not exist; #5631 is cited.
    zero3 = changes["pair", "qlora+zero-3"]
    assert any("#5637/#5660 open" in c for c in zero3["before"]["caveats"])
    assert not any("#5637/#5660 open" in c for c in zero3["after"]["caveats"])
    assert DEEPSPEED_5631 in zero3["after"]["sources"]
    # 10. the "recommended" versions are what PEFT's docs say you need.
    for ident in ("qlora+zero-3", "qlora+fsdp"):
        assert any("versions you need" in c for c in changes["pair", ident]["after"]["caveats"])
    # 11. DoRA pairs cite DoRA's reference page instead of the removed guide.
    for ident in ("dora+zero-2", "lora+dora", "peft+dora"):
        after = changes["pair", ident]["after"]["sources"]
        assert DORA_REFERENCE in after
        assert LORA_GUIDE not in after


def test_technique_corrections_carry_their_sources(client: TestClient) -> None:
    changes = _changes(client)
    # 5. Unsloth: the maintainer's DoRA answer is #541; #373 is gone from every technique.
    dora = changes["technique", "dora"]["after"]
    assert _library(dora["libraries"], "Unsloth")["sources"] == [UNSLOTH_541]
    for slug in ("lora", "qlora", "dora"):
        libraries = changes["technique", slug]["after"]["libraries"]
        assert UNSLOTH_373 not in _library(libraries, "Unsloth")["sources"]
    # 11. DoRA's own facts and sources.
    assert DORA_REFERENCE in dora["sources"]
    assert LORA_GUIDE not in dora["sources"]
    assert all(LORA_GUIDE not in fact["sources"] for fact in dora["facts"])
    # 6. the ZeRO-2 fact no longer says PEFT notes it.
    [fact] = [
        f
        for f in changes["technique", "zero-2"]["after"]["facts"]
        if "does not shard" in f["text"] or "not parameters" in f["text"]
    ]
    assert "PEFT" not in fact["text"]
    assert fact["sources"] == [ZERO_TUTORIAL]
    # 7. ZeRO++'s archival venue.
    assert changes["technique", "zero-plus-plus"]["after"]["paper"]["venue"].startswith("ICLR 2024")
    # 8. FSDP = ZeRO-3, from Accelerate's concept guide, now high confidence.
    [fsdp_fact] = [
        f for f in changes["technique", "fsdp"]["after"]["facts"] if "ZeRO-3" in f["text"]
    ]
    assert (fsdp_fact["sources"], fsdp_fact["confidence"]) == ([ACCELERATE_FSDP], "high")
    zero_fsdp = _library(changes["technique", "zero"]["after"]["libraries"], "PyTorch FSDP")
    assert (zero_fsdp["sources"], zero_fsdp["confidence"]) == ([ACCELERATE_FSDP], "high")


def test_seed_page_corrections_reach_every_scenario_and_cell(client: TestClient) -> None:
    changes = _changes(client)
    scenarios = [c for (kind, _), c in changes.items() if kind == "scenario"]
    assert len(scenarios) == 9
    for change in scenarios:  # 3. the seed page's real path
        assert change["before"]["sources"] == [OLD_PAGE]
        assert change["after"]["sources"] == [PINNED_PAGE]
    cells = [c for (kind, _), c in changes.items() if kind == "cell"]
    assert len(cells) == 54
    for change in cells:
        after = change["after"]
        assert OLD_PAGE not in after["sources"]
        assert PR_489 not in after["sources"]
        assert PINNED_PAGE in after["sources"]
        assert "(2024)" not in after["note"]  # 2. the date is unverified
        assert "PR #489 (attribution" not in after["note"]  # 4. the attribution is dropped
    revised = [c for c in cells if REVISED_PAGE in c["after"]["sources"]]
    assert len(revised) == 6
    assert all("c6551878" in c["after"]["note"] for c in revised)


def test_history_before_the_errata_reads_the_old_texts(client: TestClient) -> None:
    before = client.get("/v1/pairs/peft/deepspeed", params={"at": BEFORE}).json()
    now = client.get("/v1/pairs/peft/deepspeed").json()
    assert any("#1625 was left open" in c for c in before["caveats"])
    assert not any("#1625 was left open" in c for c in now["caveats"])
    old_dora = client.get("/v1/techniques/dora", params={"at": BEFORE}).json()["technique"]
    assert _library(old_dora["libraries"], "Unsloth")["sources"] == [UNSLOTH_373]
    old_zpp = client.get("/v1/techniques/zero-plus-plus", params={"at": BEFORE}).json()
    assert old_zpp["technique"]["paper"]["venue"] == "ML for Systems workshop, NeurIPS 2023"
    old_cell = client.get("/v1/matrix/qa-tasks/lora", params={"at": BEFORE}).json()["cell"]
    assert old_cell["sources"] == [OLD_PAGE]
    assert old_cell["note"].endswith("(2024).")
    new_cell = client.get("/v1/matrix/qa-tasks/lora").json()["cell"]
    assert new_cell["sources"] == [PINNED_PAGE]
    old_scenario = client.get("/v1/scenarios/qa-tasks", params={"at": BEFORE}).json()
    assert old_scenario["scenario"]["sources"] == [OLD_PAGE]
    # Revision 1's reason is history and stays as written.
    first = client.get("/v1/revisions/1").json()
    assert first["reason"] == "Phi-3 Cookbook 'Fine Tuning Scenarios' table as published (2024)"


def test_pairs_keep_their_requirements(client: TestClient) -> None:
    before = client.get("/v1/pairs/qlora/fsdp", params={"at": BEFORE}).json()
    now = client.get("/v1/pairs/qlora/fsdp").json()
    assert before["requirements"]
    assert now["requirements"] == before["requirements"]


def test_the_errata_can_be_reverted(client: TestClient, h: Headers) -> None:
    current = client.get("/v1/revisions").json()["revision"]
    reverted = client.post(f"/v1/revisions/{ERRATA}/revert", headers=h(rev=current))
    assert reverted.status_code == 201, reverted.text
    pair = client.get("/v1/pairs/peft/deepspeed").json()
    assert any("#1625 was left open" in c for c in pair["caveats"])


TABLES = (
    "revision",
    "technique_version",
    "scenario_version",
    "cell_version",
    "pair_version",
    "entity_version",
)


def _rows(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in TABLES:
                columns = [c for c in sa.inspect(conn).get_columns(table) if c["name"] != "id"]
                names = ", ".join(c["name"] for c in columns)
                rows = conn.execute(sa.text(f"SELECT {names} FROM {table}"))
                out[table] = sorted(repr(tuple(row)) for row in rows)
            return out
    finally:
        engine.dispose()


def test_downgrade_undoes_exactly_the_errata(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0012")
    before = _rows(empty_database_url)
    migrate.upgrade(empty_database_url, "0013")
    assert _rows(empty_database_url) != before
    migrate.downgrade(empty_database_url, "0012")
    assert _rows(empty_database_url) == before
