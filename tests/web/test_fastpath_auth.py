"""Reads that need a key, at fast-path speed: hits only after the key is admitted from the
cache, and the cache dropped in every process the moment any key is written anywhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import keys
from service.app import create_app
from service.config import Settings
from service.web.auth import KeyGate
from tests.conftest import LiveServer
from tests.helpers import comparable, fast_layer, make_key

PLAN = {"techniques": ["qlora", "zero-3"], "libraries": {"peft": "0.9.0"}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def gate(client: TestClient) -> KeyGate:
    found = client.app.state.keys  # type: ignore[attr-defined]
    assert isinstance(found, KeyGate)
    return found


def generation(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT generation FROM api_key_generation")).scalar()
    finally:
        engine.dispose()
    return int(value or 0)


def on_database(database_url: str, write: Callable[[sa.Connection], Any]) -> Any:
    """Run `write` in its own engine and transaction: another connection, as another process."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            return write(conn)
    finally:
        engine.dispose()


@pytest.fixture
def keyed(database_url: str) -> Iterator[TestClient]:
    """A client of an app that requires a key on reads."""
    settings = Settings(database_url=database_url, require_read_key=True)
    with TestClient(create_app(settings)) as client:
        yield client


def test_hits_with_a_valid_key_are_served_by_the_fast_path(
    keyed: TestClient, read_key: str
) -> None:
    fast, keys_gate = fast_layer(keyed), gate(keyed)
    for path in ("/v1/matrix", "/v1/techniques/qlora", "/v1/matrix?format=csv"):
        first = keyed.get(path, headers=bearer(read_key))
        assert first.status_code == 200, first.text
        hits = fast.hits
        again = [keyed.get(path, headers=bearer(read_key)) for _ in range(3)]
        assert fast.hits == hits + 3
        assert all(comparable(r) == comparable(first) for r in again)
    checks = [keyed.post("/v1/checks", json=PLAN, headers=bearer(read_key)) for _ in range(2)]
    assert comparable(checks[0]) == comparable(checks[1])
    etag = keyed.get("/v1/matrix", headers=bearer(read_key)).headers["etag"]
    hits = fast.hits
    revalidated = keyed.get("/v1/matrix", headers={**bearer(read_key), "If-None-Match": etag})
    assert (revalidated.status_code, fast.hits) == (304, hits + 1)
    assert keys_gate.lookups == 1  # one query for the key, whatever the number of reads


def test_no_key_a_wrong_key_or_another_scheme_never_get_a_cached_body(
    keyed: TestClient, read_key: str
) -> None:
    fast = fast_layer(keyed)
    cached = keyed.get("/v1/matrix", headers=bearer(read_key))
    keyed.post("/v1/checks", json=PLAN, headers=bearer(read_key))
    etag = cached.headers["etag"]
    hits = fast.hits
    unknown = f"ftm_{'0' * 12}_{'a' * 43}"
    wrong_secret = read_key[: read_key.rindex("_") + 1] + "b" * 43
    refusals = {
        "none": {},
        "unknown": bearer(unknown),
        "wrong secret": bearer(wrong_secret),
        "malformed": bearer("garbage"),
        "basic": {"Authorization": "Basic cmVhZGVyOnB3"},
        "empty bearer": {"Authorization": "Bearer "},
    }
    for name, headers in refusals.items():
        for _ in range(2):  # refused again, never answered from what the valid key was sent
            got = keyed.get("/v1/matrix", headers=headers)
            assert got.status_code == 401, name
            assert got.headers["content-type"] == "application/problem+json", name
            assert got.headers["www-authenticate"].startswith("Bearer"), name
            assert got.content != cached.content, name
            conditional = keyed.get("/v1/matrix", headers={**headers, "If-None-Match": etag})
            assert conditional.status_code == 401, name
            check = keyed.post("/v1/checks", json=PLAN, headers=headers)
            assert check.status_code == 401, name
    assert fast.hits == hits
    assert (
        'error="invalid_token"'
        in keyed.get("/v1/matrix", headers=bearer(unknown)).headers["www-authenticate"]
    )


def test_a_narrower_key_never_gets_an_answer_made_for_a_wider_one(
    keyed: TestClient, read_key: str, admin_key: str
) -> None:
    fast = fast_layer(keyed)
    wide = keyed.get("/v1/matrix", headers=bearer(admin_key))
    keyed.get("/v1/matrix", headers=bearer(admin_key))
    misses = fast.misses
    narrow = keyed.get("/v1/matrix", headers=bearer(read_key))
    assert fast.misses == misses + 1  # answered by the application, not from the admin's entry
    assert narrow.content == wide.content  # the same data: a read key may read it
    assert {key[-1] for key in fast.cache} == {"admin", "read"}
    for _ in range(2):
        assert keyed.get("/v1/admin/keys", headers=bearer(admin_key)).status_code == 200
    refused = keyed.get("/v1/admin/keys", headers=bearer(read_key))
    assert refused.status_code == 403
    assert "admin" in refused.json()["allowed"]


def test_open_reads_keep_anonymous_and_keyed_answers_apart(
    client: TestClient, admin_key: str
) -> None:
    fast = fast_layer(client)
    keyed = client.get("/v1/matrix", headers=bearer(admin_key))
    anonymous = client.get("/v1/matrix")
    assert {key[-1] for key in fast.cache} == {"admin", ""}
    assert keyed.content == anonymous.content
    # Open reads ignore a refused key: such a request gets what an anonymous one gets.
    hits = fast.hits
    for headers in (bearer(f"ftm_{'0' * 12}_{'a' * 43}"), {"Authorization": "Basic eDp5"}):
        refused = client.get("/v1/matrix", headers=headers)
        assert comparable(refused)[1:] == comparable(anonymous)[1:]
    assert fast.hits == hits + 2
    assert len(fast.cache) == 2


def test_a_key_revoked_elsewhere_is_refused_on_its_very_next_request(
    keyed: TestClient, database_url: str
) -> None:
    key = make_key(database_url, "leaver", "read")
    for _ in range(3):
        assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 200
    hits = fast_layer(keyed).hits
    on_database(database_url, lambda conn: keys.revoke_key(conn, "leaver"))
    refused = keyed.get("/v1/matrix", headers=bearer(key))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert fast_layer(keyed).hits == hits


def test_a_key_installed_elsewhere_is_admitted_at_once(
    keyed: TestClient, database_url: str
) -> None:
    key = keys.generate_key()
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 401  # refusal cached
    on_database(database_url, lambda conn: keys.install_key(conn, "newcomer", "read", key))
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 200


def test_an_expired_key_is_refused_by_the_clock_without_a_query(
    keyed: TestClient, database_url: str
) -> None:
    key = make_key(database_url, "brief", "read")
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    on_database(
        database_url,
        lambda conn: conn.execute(
            sa.text("UPDATE api_key SET expires_at = :at WHERE name = 'brief'"), {"at": soon}
        ),
    )
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 200
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 200
    lookups = gate(keyed).lookups
    time.sleep(max(0.0, soon.timestamp() - time.time()) + 0.1)
    expired = keyed.get("/v1/matrix", headers=bearer(key))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert gate(keyed).lookups == lookups  # the cached verdict's expiry, checked at use


def test_every_write_to_the_key_table_moves_the_generation(database_url: str) -> None:
    """Whoever writes keys (service.keys, the CLI, an operator's SQL), the triggers count it."""
    start = generation(database_url)
    key = make_key(database_url, "counted", "read")
    assert generation(database_url) == start + 1
    on_database(database_url, lambda conn: keys.revoke_key(conn, "counted"))
    assert generation(database_url) == start + 2
    on_database(
        database_url,
        lambda conn: conn.execute(sa.text("UPDATE api_key SET scope = 'admin'")),
    )
    assert generation(database_url) == start + 3
    on_database(database_url, lambda conn: conn.execute(sa.text("DELETE FROM api_key")))
    assert generation(database_url) == start + 4
    assert on_database(database_url, lambda conn: keys.install_key(conn, "again", "read", key))
    assert generation(database_url) == start + 5


def test_keys_written_through_another_server_take_effect_in_this_one_at_once(
    live_server: Callable[..., LiveServer],
    database_url: str,
    admin_key: str,
    read_key: str,
) -> None:
    admin_side, reader_side = (live_server(FTM_REQUIRE_READ_KEY="true") for _ in range(2))
    with httpx.Client(base_url=admin_side.url) as a, httpx.Client(base_url=reader_side.url) as b:
        for round_ in range(5):
            created = a.post(
                "/v1/admin/keys",
                json={"name": f"temp-{round_}", "scope": "read"},
                headers=bearer(admin_key),
            )
            assert created.status_code == 201, created.text
            key = created.json()["key"]
            for _ in range(3):  # admitted at once, then answered from the reader's cache
                assert b.get("/v1/matrix", headers=bearer(key)).status_code == 200
            revoked = a.delete(f"/v1/admin/keys/temp-{round_}", headers=bearer(admin_key))
            assert revoked.status_code == 200, revoked.text
            refused = b.get("/v1/matrix", headers=bearer(key))
            assert refused.status_code == 401, refused.text
            assert "revoked" in refused.json()["detail"]
            assert b.get("/v1/matrix", headers=bearer(read_key)).status_code == 200


def test_without_its_counter_row_no_key_verdict_is_trusted_past_one_look(
    keyed: TestClient, database_url: str
) -> None:
    key = make_key(database_url, "uncounted", "read")
    on_database(database_url, lambda conn: conn.execute(sa.text("DELETE FROM api_key_generation")))
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 200
    # The triggers now update no row; the revocation is seen all the same.
    on_database(database_url, lambda conn: keys.revoke_key(conn, "uncounted"))
    assert keyed.get("/v1/matrix", headers=bearer(key)).status_code == 401
