"""Keys and scopes: every write route, enumerated from the OpenAPI document, enforces them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import keys
from service.app import create_app
from service.config import PROJECT_ROOT, Settings
from service.errors import Unauthorized
from service.web.contract import ANONYMOUS_OR_KEY
from service.web.routing import READ_ONLY_POSTS
from tests.helpers import make_key
from tests.published import CURRENT

DOC = json.loads((PROJECT_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
PATH_VALUES = {
    "technique_id": "lora",
    "scenario_id": "qa-tasks",
    "number": "1",
    "name": "nobody",
}


# POSTs that change nothing: they answer from the data and stay open like reads.
SIDE_EFFECT_FREE = {("post", path) for path in READ_ONLY_POSTS}


def protected_operations() -> list[tuple[str, str, str]]:
    """Every write, and every admin operation, with its path filled in."""
    ops = []
    for path, item in DOC["paths"].items():
        for method in item:
            if (method, path) in SIDE_EFFECT_FREE:
                continue
            if method in {"post", "put", "patch", "delete"} or path.startswith("/v1/admin"):
                filled = path
                for name, value in PATH_VALUES.items():
                    filled = filled.replace("{" + name + "}", value)
                scope = "admin" if path.startswith("/v1/admin") else "write"
                ops.append((method, filled, scope))
    return ops


PROTECTED = protected_operations()


def test_protected_operations_declare_the_bearer_scheme() -> None:
    for method, path, _ in PROTECTED:
        template = next(
            p
            for p in DOC["paths"]
            if p.split("{")[0] == path[: len(p.split("{")[0])]
            and method in DOC["paths"][p]
            and len(p.split("/")) == len(path.split("/"))
        )
        assert DOC["paths"][template][method]["security"] == [{"ApiKey": []}], (method, path)
    # Reads and read-only POSTs: anonymous, or a key (FTM_REQUIRE_READ_KEY asks for one).
    assert DOC["paths"]["/v1/matrix"]["get"]["security"] == ANONYMOUS_OR_KEY
    for path in READ_ONLY_POSTS:
        assert DOC["paths"][path]["post"]["security"] == ANONYMOUS_OR_KEY
    assert DOC["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_the_document_has_writes_to_protect() -> None:
    methods = {(m, p) for m, p, _ in PROTECTED}
    assert ("put", "/v1/matrix/qa-tasks/lora") in methods
    assert ("patch", "/v1/matrix") in methods
    assert ("post", "/v1/revisions/1/revert") in methods
    assert ("get", "/v1/admin/audit") in methods
    assert len(PROTECTED) >= 13


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
def test_every_protected_route_refuses_without_the_right_key(
    client: TestClient, database_url: str, method: str, path: str, scope: str
) -> None:
    def call(key: str | None) -> Any:
        headers = {"X-Change-Reason": "probe", "If-Match": f'"rev-{CURRENT}"'}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return client.request(method.upper(), path, headers=headers, json={})

    missing = call(None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = call("ftm_000000000000_not-a-real-secret")
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert call("garbage").status_code == 401
    narrow = make_key(database_url, "narrow", "read" if scope == "write" else "write")
    refused = call(narrow)
    assert refused.status_code == 403
    assert scope in refused.json()["allowed"]
    assert narrow not in refused.text  # the secret is never echoed


def test_expired_and_revoked_keys_are_401(client: TestClient, database_url: str) -> None:
    key = make_key(database_url, "temp", "write", days=1)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        keys.authenticate(conn, key)  # valid now
        later = datetime.now(UTC) + timedelta(days=2)
        with pytest.raises(Unauthorized, match="expired"):
            keys.authenticate(conn, key, now=later)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_key SET expires_at = '2000-01-01 00:00:00'"))
    headers = {
        "Authorization": f"Bearer {key}",
        "X-Change-Reason": "x",
        "If-Match": f'"rev-{CURRENT}"',
    }
    response = client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]

    other = make_key(database_url, "leaver", "write")
    with engine.begin() as conn:
        keys.revoke_key(conn, "leaver")
    headers["Authorization"] = f"Bearer {other}"
    response = client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    engine.dispose()


def test_keys_are_stored_only_as_hashes(database_url: str) -> None:
    key = make_key(database_url, "hashed", "write")
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_key")).all()
    engine.dispose()
    dumped = repr(rows)
    assert key not in dumped
    secret = key.split("_", 2)[2]  # ftm_<public id>_<secret>; the secret itself may hold "_"
    assert len(secret) >= 40
    assert secret not in dumped
    assert keys.hash_key(key) in dumped


def test_reads_need_a_key_when_required(database_url: str, read_key: str) -> None:
    settings = Settings(database_url=database_url, require_read_key=True)
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/matrix")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        ok = client.get("/v1/matrix", headers={"Authorization": f"Bearer {read_key}"})
        assert ok.status_code == 200
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        assert client.get("/v1/matrix").status_code == 200


def test_admin_key_endpoints(client: TestClient, admin_key: str) -> None:
    auth_header = {"Authorization": f"Bearer {admin_key}"}
    created = client.post(
        "/v1/admin/keys", json={"name": "ci-bot", "scope": "write"}, headers=auth_header
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("ftm_")
    listed = client.get("/v1/admin/keys", headers=auth_header).json()["items"]
    assert [k["name"] for k in listed] == ["root", "ci-bot"]
    assert secret not in json.dumps(listed)
    again = client.post(
        "/v1/admin/keys", json={"name": "ci-bot", "scope": "write"}, headers=auth_header
    )
    assert again.status_code == 409
    write = {
        "Authorization": f"Bearer {secret}",
        "X-Change-Reason": "x",
        "If-Match": f'"rev-{CURRENT}"',
    }
    assert (
        client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=write).status_code
        == 200
    )
    revoked = client.delete("/v1/admin/keys/ci-bot", headers=auth_header)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    write["If-Match"] = f'"rev-{CURRENT + 1}"'
    assert (
        client.put("/v1/matrix/qa-tasks/lora", json={"support": "yes"}, headers=write).status_code
        == 401
    )
    assert client.delete("/v1/admin/keys/nobody", headers=auth_header).status_code == 404


def test_cli_prints_the_secret_alone_and_never_again(tmp_path: Path, database_url: str) -> None:
    env = {"FTM_DATABASE_URL": database_url, "PATH": str(Path(sys.executable).parent)}

    def ftmatrix(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    created = ftmatrix("keys", "create", "--name", "ci", "--scope", "write", "--expires", "30")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n"
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert keys.authenticate(conn, secret).name == "ci"
    listed = ftmatrix("keys", "list")
    assert "ci\twrite\tactive" in listed.stdout
    assert secret not in listed.stdout
    assert ftmatrix("keys", "create", "--name", "ci", "--scope", "write").returncode == 2
    assert ftmatrix("keys", "revoke", "ci").returncode == 0
    assert "ci\twrite\trevoked" in ftmatrix("keys", "list").stdout
    with engine.connect() as conn, pytest.raises(Unauthorized):
        keys.authenticate(conn, secret)
    engine.dispose()


def test_bootstrap_installs_the_admin_key_from_the_environment(
    tmp_path: Path, empty_database_url: str
) -> None:
    def bootstrap(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", "bootstrap"],
            capture_output=True,
            text=True,
            env={"FTM_DATABASE_URL": empty_database_url, "PATH": "/usr/bin:/bin", **env},
            cwd=tmp_path,
            check=False,
        )

    key = keys.generate_key()
    assert keys.KEY_FORMAT.match(key)
    first = bootstrap(FTM_ADMIN_KEY=key, FTM_ADMIN_KEY_NAME="ops")
    assert first.returncode == 0, first.stderr
    assert "installed" in first.stderr
    assert key not in first.stderr + first.stdout
    again = bootstrap(FTM_ADMIN_KEY=key, FTM_ADMIN_KEY_NAME="ops")
    assert (again.returncode, "already present" in again.stderr) == (0, True)
    other = bootstrap(FTM_ADMIN_KEY=keys.generate_key(), FTM_ADMIN_KEY_NAME="ops")
    assert other.returncode == 2
    assert bootstrap(FTM_ADMIN_KEY="hunter2").returncode == 2
    assert bootstrap().returncode == 0
    engine = sa.create_engine(empty_database_url)
    with engine.connect() as conn:
        principal = keys.authenticate(conn, key)
    engine.dispose()
    assert (principal.name, principal.scope) == ("ops", "admin")
