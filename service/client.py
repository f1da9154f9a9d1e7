"""A typed HTTP client for ftmatrix, on httpx, with timeouts and retries on idempotent calls.

    with Client("http://127.0.0.1:8000") as api:
        report = api.check({"techniques": ["qlora", "zero-3"], "libraries": {"peft": "0.9.0"}})

Errors come back as `ApiError` carrying the problem document. Calls that change nothing (GET,
and POST /v1/checks, which only reads) are retried on connection errors and on 502/503/504
with exponential backoff; writes are never retried, since a lost response may hide a commit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from service import __version__
from service.compat import rules
from service.detect.plan import Location

RETRY_STATUSES = frozenset({502, 503, 504})


class ApiError(Exception):
    """The server answered with an error; `problem` is its RFC 9457 document."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail') or problem.get('title') or 'error'}")
        self.status = status
        self.problem = dict(problem)


class Client:
    """ftmatrix's HTTP API. `api_key` is sent as a bearer token when given."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": f"ftmatrix-client/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; retried when `retry` (default: GET/HEAD) and the failure is transient."""
        retry = method in ("GET", "HEAD") if retry is None else retry
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    break
            time.sleep(self.backoff * 2**attempt)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:200]}
            raise ApiError(response.status_code, problem)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def matrix(self, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/matrix", **filters)
        return result

    def technique(self, technique_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/v1/techniques/{technique_id}")["technique"]
        return result

    def compatibility(self, *techniques: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/compatibility", technique=list(techniques))
        return result

    def export(self) -> dict[str, Any]:
        """The data snapshot document (`ftmatrix-snapshot/1`)."""
        result: dict[str, Any] = self.get("/v1/export")
        return result

    def check(self, plan: Mapping[str, Any]) -> rules.Report:
        """Check a plan (the body of POST /v1/checks) and return the report as rules objects."""
        body = self.request("POST", "/v1/checks", json=dict(plan), retry=True).json()
        return report_from_json(body)


def report_from_json(body: Mapping[str, Any]) -> rules.Report:
    """A `rules.Report` from the JSON of POST /v1/checks."""
    return rules.Report(
        verdict=body["verdict"],
        revision=int(body["revision"]),
        findings=tuple(
            rules.Finding(
                rule=f["rule"],
                severity=f["severity"],
                message=f["message"],
                techniques=tuple(f["techniques"]),
                scenario=f.get("scenario"),
                evidence=tuple(f.get("evidence", ())),
                fix=f.get("fix"),
                locations=tuple(
                    Location(x["file"], x.get("line"), x.get("key")) for x in f.get("locations", ())
                ),
                settings=tuple(f.get("settings", ())),
                details=tuple(f.get("details", ())),
            )
            for f in body["findings"]
        ),
    )
