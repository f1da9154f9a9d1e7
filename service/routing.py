"""The route class every router uses: its docstring's first line is the OpenAPI summary."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute


class DocumentedRoute(APIRoute):
    """An APIRoute whose summary and description come from the endpoint's docstring."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        first, _, rest = (inspect.getdoc(endpoint) or "").partition("\n")
        if kwargs.get("summary") is None:
            kwargs["summary"] = first.strip() or None
        if kwargs.get("description") is None:
            kwargs["description"] = rest.strip()
        super().__init__(path, endpoint, **kwargs)
