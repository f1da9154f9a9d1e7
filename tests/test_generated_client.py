"""The committed OpenAPI document judged by a generated client: openapi-python-client writes a
client from openapi/openapi.json, and every operation of the document is called through it on
a live server (`ftmatrix serve` on 127.0.0.1), CSV and Markdown bodies and a 304 included.

The client raises on any status the document does not declare for the operation, and parses
every declared answer into its generated model, so a route, status or field the document gets
wrong fails here. Two things openapi-python-client (0.29) cannot do are worked around, through
the generated request builder (`_get_kwargs`) and the generated client's own httpx client:

- a response declares JSON, CSV and Markdown, and the generated code parses only the first
  media type, so a CSV or Markdown answer would be read as JSON (upstream issues #1248 and
  #453; pull request #1293 is open): those answers are read as text here;
- a request body of `text/csv` or `text/markdown` is skipped at generation with a warning
  ("Unsupported content type", upstream issue #542): the bulk PATCH sends those bodies as
  content here, and its answer is parsed by the generated response parser.

Both are limits of the generator, not of the document, which declares the media types as
OpenAPI means them. The generator's warnings are compared with exactly those two, so any new
one fails the test.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from service.config import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.published import CURRENT

DOCUMENT = PROJECT_ROOT / "openapi" / "openapi.json"
PACKAGE = "ftm_generated_client"
"""The generated package's import name (a name nothing else in the test run uses)."""
KNOWN_WARNINGS = [
    ("PATCH /v1/matrix", "Unsupported content type text/csv"),
    ("PATCH /v1/matrix", "Unsupported content type text/markdown"),
]
"""What the generator warns about, in order: the two text bodies it cannot send."""
CONFIG = "post_hooks: []\n"
"""No post-generation hooks: by default it runs `ruff` from PATH on the output, which only
reformats it, and a test must not depend on what PATH holds."""
COMPUTED = ("id", "since_revision", "offerings")
"""Fields an entity read has and its PUT body does not (see tests/admin/test_entities.py)."""
REASON = "generated client test"


def generator() -> Path:
    """The openapi-python-client command of this environment (a dev dependency)."""
    found = Path(sys.executable).parent / "openapi-python-client"
    if found.is_file():
        return found
    on_path = shutil.which("openapi-python-client")
    if on_path:
        return Path(on_path)
    if os.environ.get("CI") == "true":
        pytest.fail("openapi-python-client is required in CI (a dev dependency)")
    pytest.skip("openapi-python-client is not installed (pip install openapi-python-client)")


@dataclass
class Generated:
    """The generated package: its models, its client classes, its operation modules."""

    package: ModuleType
    models: ModuleType
    operations: dict[str, ModuleType]
    warnings: list[tuple[str, str]]


def _warnings(output: str) -> list[tuple[str, str]]:
    """(operation, reason) of each "WARNING parsing METHOD PATH" block the generator printed."""
    found = re.finditer(r"WARNING parsing (\S+ \S+) within \S+\.\s*\n\s*\n(.+)", output)
    return [(m.group(1), m.group(2).strip()) for m in found]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """The client generated from the committed document, once per module, importable."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    done = subprocess.run(
        [str(generator()), "generate", "--path", str(DOCUMENT), "--meta", "none",
         "--output-path", str(folder / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, cwd=folder,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    sys.path.insert(0, str(folder))
    try:
        package = importlib.import_module(PACKAGE)
        operations = {
            path.stem: importlib.import_module(f"{PACKAGE}.api.{path.parent.name}.{path.stem}")
            for path in sorted((folder / PACKAGE / "api").glob("*/*.py"))
            if path.stem != "__init__"
        }
        models = importlib.import_module(f"{PACKAGE}.models")
        yield Generated(package, models, operations, _warnings(output))
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def document_operations() -> set[str]:
    import json

    paths = json.loads(DOCUMENT.read_text(encoding="utf-8"))["paths"]
    return {op["operationId"] for item in paths.values() for op in item.values()}


@dataclass
class Api:
    """The generated client on a live server; records every operation it called."""

    generated: Generated
    client: Any
    base_url: str
    revision: int = CURRENT
    called: set[str] = field(default_factory=set)

    def __call__(self, operation: str, *args: Any, expect: int = 200, **kwargs: Any) -> Any:
        """`operation`'s generated `sync_detailed`; asserts the status, returns the Response."""
        response = self.generated.operations[operation].sync_detailed(
            *args, client=self.client, **kwargs
        )
        self.called.add(operation)
        assert response.status_code == expect, (operation, response.content[:500])
        return response

    def write(self, operation: str, *args: Any, expect: int = 200, **kwargs: Any) -> Any:
        """A write with a reason and the current revision's ETag; returns the WriteResult and
        moves `revision` on."""
        response = self(operation, *args, expect=expect, x_change_reason=REASON,
                        if_match=f'"rev-{self.revision}"', **kwargs)  # fmt: skip
        result = response.parsed
        assert isinstance(result, self.generated.models.WriteResult)
        assert response.headers["etag"] == f'"rev-{result.revision}"'
        self.revision = result.revision
        return result

    def text(self, operation: str, *args: Any, **kwargs: Any) -> httpx.Response:
        """A CSV or Markdown answer: the generated request, sent by the generated client's
        httpx client, read as text (the generated parser would read it as JSON)."""
        request = self.generated.operations[operation]._get_kwargs(*args, **kwargs)
        response: httpx.Response = self.client.get_httpx_client().request(**request)
        self.called.add(operation)
        assert response.status_code == 200, response.text
        return response

    def bulk(self, content: str, content_type: str) -> Any:
        """PATCH /v1/matrix with a CSV or Markdown body, parsed by the generated parser."""
        module = self.generated.operations["apply_matrix"]
        # The generated builder takes only a JSON body: build with an empty one, then replace it.
        empty = self.generated.models.MatrixPatch(cells=[])
        request = module._get_kwargs(
            body=empty, x_change_reason=REASON, if_match=f'"rev-{self.revision}"'
        )
        del request["json"]
        request["headers"]["Content-Type"] = content_type
        raw = self.client.get_httpx_client().request(**request, content=content.encode())
        response = module._build_response(client=self.client, response=raw)
        self.called.add("apply_matrix")
        assert response.status_code == 200, raw.text
        self.revision = response.parsed.revision
        return response.parsed


def test_the_generator_warns_only_about_the_text_request_bodies(generated: Generated) -> None:
    assert generated.warnings == KNOWN_WARNINGS
    # Every operation of the document became a module, under its operationId.
    assert set(generated.operations) == document_operations()


def test_every_operation_works_through_the_generated_client(
    generated: Generated, live_server: Callable[..., LiveServer], admin_key: str
) -> None:
    server = live_server()
    client = generated.package.AuthenticatedClient(
        base_url=server.url, token=admin_key, raise_on_unexpected_status=True,
        timeout=httpx.Timeout(30.0),
    )  # fmt: skip
    api = Api(generated, client, server.url)
    with client:
        operations_and_catalog(api)
        offerings_estimates_and_checks(api)
        writes(api)
        admin_and_history(api)
    assert api.called == document_operations()


def operations_and_catalog(api: Api) -> None:
    m = api.generated.models
    assert api("get_health").parsed.status == "ok"
    ready = api("get_readiness").parsed
    assert (ready.status, ready.revision) == ("ready", CURRENT)
    assert "# TYPE ftmatrix_requests_total counter" in api("get_metrics").parsed

    techniques = api("list_techniques", limit=2)
    assert isinstance(techniques.parsed, m.TechniqueList)
    assert (len(techniques.parsed.items), techniques.parsed.revision) == (2, CURRENT)
    assert techniques.parsed.total > 2
    assert 'rel="next"' in techniques.headers["link"]
    lora = api("get_technique", "LoRA").parsed  # an alias, resolved
    assert isinstance(lora, m.TechniqueOne)
    assert lora.technique.id == "lora"
    assert api("get_technique", "no-such-technique", expect=404).parsed.status == 404
    assert api("list_technique_scenarios", "lora").parsed.technique.id == "lora"
    scenarios = api("list_scenarios").parsed
    assert "qa-tasks" in {s.id for s in scenarios.items}
    assert api("get_scenario", "qa-tasks").parsed.scenario.id == "qa-tasks"
    assert api("list_scenario_techniques", "qa-tasks").parsed.scenario.id == "qa-tasks"
    assert api("get_cell", "qa-tasks", "lora").parsed.cell.support.value == "yes"
    recommended = api("get_recommendations", scenario=["qa-tasks"]).parsed
    assert isinstance(recommended, m.Recommendations)

    # The matrix as JSON, then a conditional GET with its ETag: a 304 with no body.
    matrix = api("get_matrix")
    assert isinstance(matrix.parsed, m.Matrix)
    assert matrix.parsed.revision == CURRENT
    etag = matrix.headers["etag"]
    assert etag == f'"rev-{CURRENT}"'
    unchanged = api("get_matrix", if_none_match=etag, expect=304)
    assert (unchanged.parsed, unchanged.content, unchanged.headers["etag"]) == (None, b"", etag)
    cells = {(c.scenario, c.technique): c.support.value for c in matrix.parsed.cells}

    # CSV and Markdown: the same cells.
    as_csv = api.text("get_matrix", format_=m.MatrixFormat.CSV)
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["scenario"], r["technique"]): r["support"] for r in rows} == cells
    as_markdown = api.text("get_matrix", format_=m.MatrixFormat.MARKDOWN)
    assert as_markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert as_markdown.headers["etag"] == f'"rev-{CURRENT}-markdown"'
    lines = as_markdown.text.splitlines()
    header = next(line for line in lines if line.startswith("|Scenario|"))
    assert header.split("|")[2] == "LoRA"


def offerings_estimates_and_checks(api: Api) -> None:
    m = api.generated.models
    models = api("list_models").parsed
    assert isinstance(models, m.ModelList)
    assert "phi-4" in {x.id for x in models.items}
    assert api("get_model", "phi-4").parsed.model.id == "phi-4"
    hardware = api("list_hardware").parsed
    assert "a100-80gb" in {x.id for x in hardware.items}
    assert api("get_hardware", "a100-80gb").parsed.hardware.id == "a100-80gb"
    as_csv = api.text("list_hardware", format_=m.ListFormat.CSV)
    assert as_csv.text.splitlines()[0].startswith("id,name,kind,memory_bytes")
    as_markdown = api.text("list_hardware", format_=m.ListFormat.MARKDOWN)
    assert as_markdown.text.startswith("| id | name | kind |")
    assert len(as_markdown.text.splitlines()) == len(hardware.items) + 2
    assert "kaito" in {x.id for x in api("list_platforms").parsed.items}
    assert api("get_platform", "kaito").parsed.platform.id == "kaito"
    offerings = api("list_offerings").parsed
    assert "kaito-tuning" in {x.id for x in offerings.items}
    assert api("get_offering", "kaito-tuning").parsed.offering.id == "kaito-tuning"
    where = api("get_where", model="phi-3-mini-4k-instruct", technique=["lora"]).parsed
    assert isinstance(where, m.WhereAnswer)
    assert "azureml-finetune-pipeline" in {x.offering for x in where.matches}

    lora_job = {"model": "qwen2.5-0.5b", "technique": {"method": "lora"}}
    estimate = api("create_estimate", body=m.EstimateRequest.from_dict(lora_job))
    assert isinstance(estimate.parsed, m.EstimateAnswer)
    assert estimate.parsed.params.total > estimate.parsed.params.trainable > 0

    pairs = api("list_pairs").parsed
    assert ("lora", "qlora") in {(p.a, p.b) for p in pairs.items}
    pair = api("get_pair", "lora", "qlora").parsed
    assert (pair.a, pair.b) == ("lora", "qlora")
    compatibility = api("get_compatibility", technique=["qlora", "zero-3"]).parsed
    assert isinstance(compatibility, m.Compatibility)
    export = api("get_export").parsed
    assert (export.format_, export.revision) == ("ftmatrix-snapshot/1", CURRENT)
    body = m.CheckRequest.from_dict({"techniques": ["qlora", "zero-3"]})
    report = api("check_plan", body=body).parsed
    assert isinstance(report, m.CheckReport)
    assert report.verdict in ("pass", "warn", "fail")
    assert report.findings  # QLoRA with ZeRO-3 has conditions, and no versions were given
    assert all(f.rule.startswith("FTM") for f in report.findings)


def _write_body(entity: Any, ident: str) -> dict[str, Any]:
    """The PUT body of a copy of `entity` under `ident`: its names made new, since ids,
    aliases and names are unique across an entity kind."""
    body = {k: v for k, v in entity.to_dict().items() if k not in COMPUTED}
    body["name"] = f"Copy {ident}"
    for unique in ("aliases", "names"):
        if unique in body:
            body[unique] = []
    if "seed_name" in body:
        body["seed_name"] = None
    return body


def writes(api: Api) -> None:
    m = api.generated.models
    galore = m.TechniqueCreate.from_dict(
        {"id": "galore", "name": "GaLore", "category": "other",
         "sources": ["https://arxiv.org/abs/2403.03507"]}
    )  # fmt: skip
    dry = api.write("create_technique", body=galore, dry_run=True)
    assert (dry.dry_run, dry.created_revision) == (True, None)
    created = api.write("create_technique", body=galore, expect=201)
    assert created.created_revision == CURRENT + 1
    summary = m.TechniqueUpdate.from_dict({"summary": "Gradient low-rank projection."})
    api.write("update_technique", "galore", body=summary)
    scenario = m.ScenarioCreate.from_dict(
        {"id": "long-context", "title": "Fine-tuning for long context", "kind": "task"}
    )
    api.write("create_scenario", body=scenario, expect=201)
    described = m.ScenarioUpdate.from_dict({"description": "Inputs of 32k tokens and more."})
    api.write("update_scenario", "long-context", body=described)
    cell = m.CellWrite.from_dict({"support": "partial", "note": "Checked by hand."})
    api.write("set_cell", "long-context", "galore", body=cell)
    assert api("get_cell", "long-context", "galore").parsed.cell.support.value == "partial"
    cells = m.MatrixPatch.from_dict(
        {"cells": [{"scenario": "long-context", "technique": "lora", "support": "yes"}]}
    )
    assert [c.id for c in api.write("apply_matrix", body=cells).changes] == ["long-context/lora"]

    # The CSV export of one cell edited and sent back; then a Markdown table.
    exported = api.text("get_matrix", scenario=["qa-tasks"], technique=["lora"],
                        format_=m.MatrixFormat.CSV).text  # fmt: skip
    edited = exported.replace("qa-tasks,lora,yes,", "qa-tasks,lora,partial,")
    assert edited != exported
    result = api.bulk(edited, "text/csv")
    assert [(c.kind, c.id) for c in result.changes] == [("cell", "qa-tasks/lora")]
    table = "|Scenario|GaLore|\n|-|-|\n|Fine-tuning for long context|No|\n"
    result = api.bulk(table, "text/markdown")
    assert [c.id for c in result.changes] == ["long-context/galore"]
    assert api("get_cell", "long-context", "galore").parsed.cell.support.value == "no"

    pair = api("get_pair", "lora", "qlora").parsed.to_dict()
    body = {k: v for k, v in pair.items() if k not in ("a", "b", "inherited_from")}
    api.write("set_pair", "lora", "qlora", body=m.PairWrite.from_dict(body | {"note": REASON}))
    assert api("get_pair", "lora", "qlora").parsed.note == REASON

    # One created and retired entity of each kind, its PUT body built from a generated read.
    for kind, source, ident in [
        ("model", "phi-4", "test-model"),
        ("hardware", "a100-80gb", "test-gpu"),
        ("platform", "kaito", "test-platform"),
        ("offering", "kaito-tuning", "test-offering"),
    ]:
        read = getattr(api(f"get_{kind}", source).parsed, kind)
        write_model = getattr(m, f"{kind.capitalize()}Write")
        api.write(
            f"set_{kind}", ident, body=write_model.from_dict(_write_body(read, ident)), expect=201
        )
        assert getattr(api(f"get_{kind}", ident).parsed, kind).id == ident
        api.write(f"delete_{kind}", ident)
        api(f"get_{kind}", ident, expect=404)

    api.write("delete_scenario", "long-context")
    api.write("delete_technique", "galore")
    undone = api.write("revert_revision", api.revision, expect=201)
    assert undone.created_revision == api.revision
    assert api("get_technique", "galore").parsed.technique.id == "galore"
    stale = api("delete_technique", "galore", expect=412, x_change_reason=REASON,
                if_match=f'"rev-{CURRENT}"')  # fmt: skip
    assert isinstance(stale.parsed, m.Problem)
    assert stale.parsed.status == 412


def admin_and_history(api: Api) -> None:
    m = api.generated.models
    key = api("create_api_key", body=m.KeyCreate.from_dict({"name": "ci", "scope": "read"}),
              expect=201).parsed  # fmt: skip
    assert isinstance(key, m.KeyCreated)
    assert (key.name, key.scope) == ("ci", "read")
    # The new key works, in a client of its own (with_headers would change the shared one).
    with api.generated.package.AuthenticatedClient(base_url=api.base_url, token=key.key) as reader:
        read = api.generated.operations["list_api_keys"].sync_detailed(client=reader)
        assert read.status_code == 403  # a read key is no admin key
        read = api.generated.operations["get_technique"].sync_detailed("lora", client=reader)
        assert read.status_code == 200
    assert {"ci", "root"} <= {k.name for k in api("list_api_keys").parsed.items}
    revoked = api("revoke_api_key", "ci").parsed
    assert isinstance(revoked, m.KeyRead)
    assert revoked.revoked_at
    audit = api("list_audit", action="create_technique").parsed
    assert isinstance(audit, m.AuditList)
    assert audit.total >= 2  # the dry run and the write

    revisions = api("list_revisions", limit=1).parsed
    assert (revisions.revision, revisions.items[0].number) == (api.revision, api.revision)
    detail = api("get_revision", CURRENT + 1).parsed
    assert isinstance(detail, m.RevisionDetail)
    assert (detail.reason, detail.changes[0].id) == (REASON, "galore")
    feed = api("list_changes", since=CURRENT).parsed
    assert isinstance(feed, m.ChangeFeed)
    assert feed.items
