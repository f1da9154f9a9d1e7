"""What one request carries between the layers that handle it, typed, in one place.

The middleware creates a `RequestState` per request and keeps it in the ASGI scope's state; the
auth dependency names the caller in it, the error handlers the problem, write routes whether
they audited themselves. The middleware reads it back once the response is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.types import Scope

_KEY = "ftm"


@dataclass(slots=True)
class RequestState:
    """The per-request facts the middleware, auth, error handlers and writes share."""

    request_id: str
    key_name: str | None = None
    """The name of the key that authenticated, if any (for the access log and the audit)."""
    audited: bool = False
    """True once a write recorded its own audit row inside its transaction."""
    dry_run: bool = False
    problem: str = ""
    """The detail of the problem the request was answered with, for the audit row."""


def attach(scope: Scope, request_id: str) -> RequestState:
    """Create the state of a new request in its ASGI scope."""
    state = RequestState(request_id)
    scope.setdefault("state", {})[_KEY] = state
    return state


def request_state(request: Request) -> RequestState:
    """The state the middleware attached (a fresh one for a request that bypassed it)."""
    found = request.scope.get("state", {}).get(_KEY)
    if isinstance(found, RequestState):
        return found
    return attach(request.scope, "")
