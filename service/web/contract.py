"""What FastAPI cannot infer for the OpenAPI document: the response headers every answer
carries (ETag, X-Revision, X-Request-ID, Cache-Control, Location, Link, WWW-Authenticate,
Retry-After), the 304 of conditional GETs, the errors every route can meet (413, 431, 503),
the 200 of a dry run, If-Match as required where its absence is a 428, security on every
operation, servers, tags, license and contact. Applied once to the generated document.
"""

from __future__ import annotations

from typing import Any

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'Strong entity tag of this representation: `"rev-N"` (JSON) or '
        '`"rev-N-<variant>"`; send it back in If-None-Match or If-Match.',
        "schema": {"type": "string"},
    },
    "X-Revision": {
        "description": "The data revision the answer was read from.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-Request-ID": {
        "description": "The request's id (the caller's X-Request-ID when sane), as logged.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`no-cache` for the newest data (revalidate); "
        "`public, max-age=31536000, immutable` for an `at=N` read.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "What the request created.", "schema": {"type": "string"}},
    "Link": {
        "description": 'RFC 8288: `<...>; rel="next"` while items remain after this page.',
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The Bearer challenge (RFC 6750).",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    },
}

TAGS = {
    "catalog": "Techniques, scenarios and the matrix between them.",
    "compatibility": "Technique pairs, plan checks and the data export.",
    "history": "Revisions and the change feed.",
    "curation": "Writes: every one a revision, behind a key with write scope.",
    "admin": "API keys and the audit log (admin scope).",
    "offerings": "Models, hardware, platforms and offerings: where a job can run.",
    "estimates": "Memory estimates: will a job fit its GPUs?",
    "operations": "Liveness, readiness and metrics.",
}

SERVERS = [{"url": "http://127.0.0.1:8000", "description": "`make run` on this machine"}]
ANONYMOUS_OR_KEY: list[dict[str, list[str]]] = [{}, {"ApiKey": []}]

_STATUS_TEXT = {
    "304": "Not Modified: the ETag in If-None-Match is current; no body.",
    "413": "Payload Too Large",
    "431": "Request Header Fields Too Large",
    "503": "Service Unavailable: the database has no schema yet or does not answer.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _add_headers(response: dict[str, Any], *names: str) -> None:
    headers = response.setdefault("headers", {})
    for name in names:
        headers.setdefault(name, _ref(name))


def _problem(description: str, *headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": PROBLEM}
    if headers:
        _add_headers(response, *headers)
    return response


def _operation(path: str, method: str, op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    api = path.startswith("/v1/")
    params = {p.get("name", "").lower(): p for p in op.get("parameters", [])}
    if "if-match" in params:
        params["if-match"]["required"] = True  # its absence is a 428
    if api:
        responses.setdefault("503", _problem(_STATUS_TEXT["503"], "Retry-After"))
    responses.setdefault("431", _problem(_STATUS_TEXT["431"]))
    if "requestBody" in op:
        responses.setdefault("413", _problem(_STATUS_TEXT["413"]))
    ok = responses.get("200")
    if method == "get" and api and ok is not None:
        _add_headers(ok, "ETag", "X-Revision", "Cache-Control")
        if "limit" in params:
            _add_headers(ok, "Link")
        not_modified: dict[str, Any] = {"description": _STATUS_TEXT["304"]}
        _add_headers(not_modified, "ETag", "X-Revision", "Cache-Control")
        responses.setdefault("304", not_modified)
    created = responses.get("201")
    if created is not None:
        _add_headers(created, "Location", "ETag", "X-Revision")
        if "dry_run" in params and "200" not in responses:
            responses["200"] = {
                "description": "A dry run: the diff the write would make; nothing created.",
                "content": created.get("content", {}),
            }
    if "401" in responses:
        _add_headers(responses["401"], "WWW-Authenticate")
    for response in responses.values():
        _add_headers(response, "X-Request-ID")
    if "security" not in op and api:
        # Reads are open unless FTM_REQUIRE_READ_KEY is set: anonymous, or a key.
        op["security"] = ANONYMOUS_OR_KEY
    elif "security" not in op:
        op["security"] = [{}]


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (FastAPI's generated document) with the declarations above; returns it."""
    info = schema.setdefault("info", {})
    info.setdefault("license", {"name": "MIT", "identifier": "MIT"})
    info.setdefault("contact", {"name": "ftmatrix maintainers"})
    schema.setdefault("servers", SERVERS)
    components = schema.setdefault("components", {})
    components.setdefault("headers", {}).update(HEADERS)
    used: set[str] = set()
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                _operation(path, method, op)
                used.update(op.get("tags", []))
    schema["tags"] = [
        {"name": name, "description": TAGS.get(name, name.capitalize() + ".")}
        for name in sorted(used)
    ]
    return schema
