"""The human pages and their static files through the fast path: prepared once per revision,
revalidated with their ETags, and never older than the newest write."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.pages.render import asset
from tests.helpers import Headers, comparable, fast_layer
from tests.published import CURRENT


def test_a_second_get_of_a_page_is_a_fast_path_hit(client: TestClient) -> None:
    fast = fast_layer(client)
    for path in ("/", "/?support=partial", "/techniques/lora", "/pairs", "/cells/qa-tasks/lora"):
        first = client.get(path)
        assert first.status_code == 200, path
        assert first.headers["content-type"].startswith("text/html")
        hits = fast.hits
        second = client.get(path)
        assert fast.hits == hits + 1, path
        assert comparable(second) == comparable(first), path
        assert "script-src 'self'" in second.headers["content-security-policy"]
        revalidated = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert (revalidated.status_code, fast.hits) == (304, hits + 2), path
        assert revalidated.headers["etag"] == first.headers["etag"]
        # A 304 carries the page's own policy, as the application's 304 does.
        assert "script-src 'self'" in revalidated.headers["content-security-policy"]


def test_a_write_makes_the_next_page_read_show_the_new_revision(
    client: TestClient, h: Headers
) -> None:
    before = client.get("/cells/qa-tasks/lora")
    client.get("/cells/qa-tasks/lora")  # prepared
    assert before.headers["x-revision"] == str(CURRENT)
    written = client.put("/v1/matrix/qa-tasks/lora", json={"support": "no"}, headers=h())
    assert written.status_code == 200, written.text
    after = client.get("/cells/qa-tasks/lora")
    assert after.headers["x-revision"] == str(CURRENT + 1)
    assert after.headers["etag"] != before.headers["etag"]
    stale = client.get("/cells/qa-tasks/lora", headers={"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200  # the old tag no longer validates


def test_past_revisions_and_the_pasted_check_are_left_to_the_application(
    client: TestClient,
) -> None:
    fast = fast_layer(client)
    for _ in range(2):
        assert client.get("/?at=1").headers["x-revision"] == "1"
        pasted = client.post(
            "/check",
            data={"text": "adapter: lora\n", "name": "axolotl.yml", "kind": "axolotl"},
        )
        assert pasted.status_code == 200
    assert fast.hits == 0
    assert not fast.cache


def test_static_files_with_an_etag_are_kept_and_ranges_left_to_the_application(
    client: TestClient,
) -> None:
    fast = fast_layer(client)
    url = asset("pages.css")
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["etag"]
    hits = fast.hits
    second = client.get(url)
    assert fast.hits == hits + 1
    assert comparable(second) == comparable(first)
    ranged = client.get(url, headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, first.content[:10])
    assert fast.hits == hits + 1
