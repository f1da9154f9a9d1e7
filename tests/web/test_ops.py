"""Operations: health, readiness, metrics, logs, limits, headers, CORS, docs, hostile input."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service import db as migrate
from service.app import create_app
from service.config import Settings
from tests.helpers import Headers
from tests.published import CURRENT


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["revision"] == CURRENT


def test_readyz_is_503_when_migrations_are_behind(database_url: str) -> None:
    migrate.downgrade(database_url, "0005")
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "ftmatrix db upgrade" in response.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_database_is_gone(tmp_path: object) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"
    with TestClient(create_app(Settings(database_url=url))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "nobody" not in response.text


def test_metrics_count_requests_by_route_and_report_the_revision(client: TestClient) -> None:
    client.get("/v1/techniques/lora")
    client.get("/v1/techniques/qlora")
    client.get("/v1/techniques/nope")
    text = client.get("/metrics").text
    assert (
        'ftmatrix_requests_total{method="GET",route="/v1/techniques/{technique_id}",status="200"} 2'
    ) in text
    assert 'route="/v1/techniques/{technique_id}",status="404"} 1' in text
    assert f"ftmatrix_revision {CURRENT}" in text
    assert re.search(r'ftmatrix_request_duration_seconds_bucket\{.*le="\+Inf"\} 2', text)
    assert "/v1/techniques/lora" not in text  # templates, not raw paths


def test_one_json_log_line_per_request_with_its_id(
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    h: Headers,
) -> None:
    caplog.set_level(logging.INFO, logger="ftmatrix.access")  # as `ftmatrix serve` configures
    capsys.readouterr()
    client.get("/v1/matrix", headers={"X-Request-ID": "trace-7"})  # answered by the app
    client.get("/v1/matrix", headers={"X-Request-ID": "trace-8"})  # a prepared answer
    client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    client.app.state.access.flush()  # type: ignore[attr-defined]  # lines are buffered
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    access = [line for line in lines if line["logger"] == "ftmatrix.access"]
    assert [(a["request_id"], a["status"], a["route"]) for a in access[:2]] == [
        ("trace-7", 200, "/v1/matrix"),
        ("trace-8", 200, "/v1/matrix"),
    ]
    assert (access[2]["method"], access[2]["key"]) == ("PUT", "curator")
    for line in access:
        assert {"ts", "level", "msg", "path", "duration_ms", "client"} <= set(line)
    assert "ftm_" not in json.dumps(access)  # the key's name, never its secret


def test_access_lines_follow_the_logger_level(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("ftmatrix.access")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        capsys.readouterr()
        client.get("/v1/matrix")
        client.app.state.access.flush()  # type: ignore[attr-defined]
        assert "ftmatrix.access" not in capsys.readouterr().err
    finally:
        logger.setLevel(previous)


@pytest.fixture
def small_body_client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, max_body_bytes=2048)
    with TestClient(create_app(settings)) as client:
        yield client


def test_request_bodies_over_the_limit_are_413(small_body_client: TestClient, h: Headers) -> None:
    big = {"cells": [{"scenario": "qa-tasks", "technique": "lora", "support": "no",
                      "note": "x" * 3000}]}  # fmt: skip
    response = small_body_client.patch("/v1/matrix", json=big, headers=h())
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["max_bytes"] == 2048

    def chunks() -> Iterator[bytes]:
        yield b'{"cells": ['
        yield b" " * 3000
        yield b"]}"

    streamed = small_body_client.patch(
        "/v1/matrix", content=chunks(), headers=h() | {"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    put = small_body_client.put(
        "/v1/matrix/qa-tasks/lora", content=b'{"support": "no", "note": "' + b"y" * 3000 + b'"}',
        headers=h() | {"Content-Type": "application/json"},
    )  # fmt: skip
    assert put.status_code == 413
    assert small_body_client.get("/v1/matrix/qa-tasks/lora").json()["cell"]["support"] == "yes"


def test_security_headers(client: TestClient) -> None:
    response = client.get("/v1/matrix")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_cors_is_off_by_default_and_configurable(client: TestClient, database_url: str) -> None:
    origin = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in client.get("/v1/matrix", headers=origin).headers
    settings = Settings(database_url=database_url, cors_origins=["https://dash.example"])
    with TestClient(create_app(settings)) as cors:
        preflight = cors.options("/v1/matrix", headers=origin)
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        assert cors.get("/v1/matrix", headers=origin).headers["access-control-expose-headers"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_everything_from_the_service(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assets += re.findall(r"url: '([^']+)'", page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset
    assert "cdn.jsdelivr" not in page.text
    assert "fonts.googleapis" not in page.text


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"support": "no",', "application/json", 422),
        (b"\xff\xfe\xfa", "application/json", 422),
        (b'{"support": "no", "colour": "red"}', "application/json", 422),
        (b"support=no", "application/x-www-form-urlencoded", 422),
        (b"[]", "application/json", 422),
    ],
)
def test_hostile_bodies_are_problems(
    client: TestClient, h: Headers, content: bytes, content_type: str, status: int
) -> None:
    response = client.put(
        "/v1/matrix/qa-tasks/lora", content=content, headers=h() | {"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/matrix/qa-tasks/lora").json()["cell"]["support"] == "yes"


def test_invalid_utf8_in_bulk_edits_and_huge_queries(client: TestClient, h: Headers) -> None:
    response = client.patch(
        "/v1/matrix", content=b"scenario,technique,support\n\xff,lora,no\n",
        headers=h() | {"Content-Type": "text/csv"},
    )  # fmt: skip
    assert response.status_code == 422
    huge = client.get("/v1/matrix", params=[("technique", "lora")] * 2000)
    assert huge.status_code == 200
    long_value = client.get("/v1/techniques/" + "x" * 5000)
    assert long_value.status_code == 404


def test_no_stack_trace_sql_or_secret_in_a_500(
    client: TestClient, h: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.admin.writer import Writer

    def boom(self: Writer, *args: object) -> None:
        raise RuntimeError("SELECT secret FROM api_key -- traceback")

    monkeypatch.setattr(Writer, "put_cells", boom)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        response = quiet.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    assert response.status_code == 500
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    assert "ftm_" not in response.text


def test_settings_accept_any_case_and_refuse_bad_values_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main
    from service.config import Settings, get_settings

    for given, level in (("warning", "WARNING"), (" warn", "WARNING"), ("Fatal", "CRITICAL")):
        assert Settings.model_validate({"log_level": given}).log_level == level
    for name, value, expected in (
        ("FTM_LOG_LEVEL", "loud", "ftmatrix: FTM_LOG_LEVEL: Input should be 'DEBUG'"),
        ("FTM_CORS_ORIGINS", "https://x", "ftmatrix: FTM_CORS_ORIGINS: not valid JSON"),
        ("FTM_CORS_ORIGINS", "[1]", "ftmatrix: FTM_CORS_ORIGINS[0]: Input should be a valid"),
    ):
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            assert main(["serve", "--host", "127.0.0.1", "--port", "1"]) == 2
        finally:
            monkeypatch.delenv(name)
            get_settings.cache_clear()
        err = capsys.readouterr().err
        assert err.startswith(expected), err
        assert len(err.splitlines()) == 1
        assert "Traceback" not in err


def test_metrics_count_every_observation_queued_or_added_up() -> None:
    from service.web.metrics import PENDING_LIMIT, Metrics

    metrics = Metrics()
    total = PENDING_LIMIT * 2 + 7  # two full batches added up as they fill, and a partial one
    for index in range(total):
        metrics.observe("GET", "/v1/matrix", 200, 0.002 if index % 2 else 0.0005)
    text = metrics.render(None)
    labels = 'method="GET",route="/v1/matrix",status="200"'
    assert f"ftmatrix_requests_total{{{labels}}} {total}\n" in text
    assert (
        f'ftmatrix_request_duration_seconds_bucket{{{labels},le="0.001"}} {total // 2 + 1}' in text
    )
    assert f'ftmatrix_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}' in text
    metrics.observe("GET", "/v1/matrix", 200, 0.0005)
    assert f"ftmatrix_requests_total{{{labels}}} {total + 1}\n" in metrics.render(None)
