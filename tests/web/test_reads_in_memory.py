"""The app's own read path (a fast-path miss) stays on the event loop when the snapshot is in
memory: no worker-thread hop for the dependencies, the snapshot or a check of held cells."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from service.web import deps
from tests.helpers import Headers
from tests.published import CURRENT, SEED

CHECK = {"techniques": ["qlora", "dora"], "libraries": {"peft": "0.13.2"}}


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls sent to a worker thread by FastAPI (sync dependencies, sync routes, their response
    validation) and by service.web.deps, by function name."""
    seen: Counter[str] = Counter()
    for module in (fastapi.dependencies.utils, fastapi.routing, deps):
        real = module.run_in_threadpool

        def counting(func: Callable[..., Any], *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen[getattr(func, "__name__", repr(func))] += 1
            return _real(func, *args, **kwargs)

        monkeypatch.setattr(module, "run_in_threadpool", counting)
    return seen


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/v1/techniques/lora"),
        ("GET", f"/v1/techniques/lora?at={SEED}"),
        ("GET", f"/v1/techniques/lora?at={CURRENT}"),
        ("GET", "/v1/scenarios"),
        ("GET", "/v1/matrix"),
        ("GET", f"/v1/matrix?at={SEED}&format=csv"),
        ("GET", "/v1/matrix/qa-tasks/lora"),
        ("GET", f"/v1/matrix/qa-tasks/lora?at={SEED}"),
        ("POST", "/v1/checks"),
        ("POST", f"/v1/checks?at={SEED}"),
    ],
)
def test_a_read_of_a_snapshot_in_memory_stays_on_the_event_loop(
    client: TestClient, hops: Counter[str], method: str, target: str
) -> None:
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    body = CHECK if method == "POST" else None
    first = client.request(method, target, json=body)  # loads the snapshot, in a thread
    assert first.status_code == 200, first.text
    hops.clear()
    again = client.request(method, target, json=body)
    assert again.status_code == 200
    assert again.content == first.content
    assert dict(hops) == {}


def test_the_first_read_of_a_revision_loads_it_off_the_event_loop(
    client: TestClient, hops: Counter[str], h: Headers
) -> None:
    client.app.fast.enabled = False  # type: ignore[attr-defined]
    assert client.get("/v1/techniques/lora").status_code == 200
    assert client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h()).is_success
    hops.clear()
    read = client.get("/v1/techniques/lora")
    assert read.headers["x-revision"] == str(CURRENT + 1)  # the write is seen at once
    assert hops["current"] == 1  # the new snapshot, loaded in a worker thread
    hops.clear()
    assert client.get(f"/v1/techniques/lora?at={CURRENT + 2}").status_code == 404
    assert hops["at"] == 1  # an unknown revision is asked of the database, off the loop
