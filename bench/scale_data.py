"""The synthetic catalog of `bench/scale.py`: its shape, its cells, how it is created and
imported, and the checks that every read answers what was written.

The data is synthetic (`bench-t0001`, `bench-s00001`, support levels cycled by a formula), so
any answer can be checked against the formula without keeping the catalog in memory.
"""

from __future__ import annotations

import csv
import io

from bench.harness import BenchError

SUPPORTS = ("yes", "partial", "no", "unknown")


def shape(cells: int) -> tuple[int, int]:
    """Techniques and scenarios for about `cells` cells, one technique to four scenarios."""
    techniques = max(1, round((cells / 4) ** 0.5))
    return techniques, max(1, round(cells / techniques))


def support_of(scenario: int, technique: int) -> str:
    return SUPPORTS[(scenario * 7 + technique * 3) % len(SUPPORTS)]


def note_of(scenario: int, technique: int) -> str:
    return f"synthetic note {scenario}/{technique}" if (scenario + technique) % 10 == 0 else ""


def technique_id(index: int) -> str:
    return f"bench-t{index:04d}"


def scenario_id(index: int) -> str:
    return f"bench-s{index:05d}"


def create_entities(database_url: str, techniques: int, scenarios: int) -> int:
    """Create the synthetic techniques and scenarios as one revision; returns its number."""
    from service.admin import schemas as s
    from service.admin import service as admin
    from service.admin.writer import WriteContext, Writer
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.snapshot import SnapshotStore
    from service.vocabulary import Category, ScenarioKind

    engine = create_db_engine(Settings(database_url=database_url))
    try:
        snap = SnapshotStore(engine).current()
        ctx = WriteContext("bench/scale.py", "synthetic catalog for the benchmark", snap.revision)
        with session_scope(engine, write=True) as session:
            writer = Writer(session, snap, ctx)
            writer.open()
            for i in range(1, techniques + 1):
                body = s.TechniqueCreate(
                    id=technique_id(i), name=f"Bench technique {i}", category=Category.other
                )
                admin.create_technique(writer, body)
            for i in range(1, scenarios + 1):
                body_s = s.ScenarioCreate(
                    id=scenario_id(i), title=f"Bench scenario {i}", kind=ScenarioKind.task
                )
                admin.create_scenario(writer, body_s)
            created = writer.finish()
        if created is None:
            raise BenchError("creating the synthetic catalog changed nothing")
        return created
    finally:
        engine.dispose()


def batch_csv(scenarios: range, techniques: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("scenario", "technique", "support", "note", "sources"))
    for s in scenarios:
        for t in range(1, techniques + 1):
            note = note_of(s, t)
            writer.writerow(
                (scenario_id(s), technique_id(t), support_of(s, t), note,
                 "synthetic:bench" if note else "")
            )  # fmt: skip
    return out.getvalue().encode()


def batches(scenarios: int, revisions: int) -> list[range]:
    """Scenario rows 1..scenarios split into `revisions` consecutive, near-equal ranges."""
    bounds = [round(i * scenarios / revisions) for i in range(revisions + 1)]
    return [range(bounds[i] + 1, bounds[i + 1] + 1) for i in range(revisions)]


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(f"wrong answer: {message}")


def check_row(body: dict[str, object], s: int, techniques: int, written: bool) -> None:
    items = body["items"]
    assert isinstance(items, list)
    ours = [i for i in items if i["technique"]["id"].startswith("bench-t")]
    expect(len(ours) == techniques, f"row {s}: {len(ours)} techniques, not {techniques}")
    for index, item in enumerate(ours, start=1):
        want = support_of(s, index) if written else "unknown"
        got = item["support"]
        expect(got == want, f"row {s}, technique {index}: {got}, not {want}")
        if written:
            expect(item["note"] == note_of(s, index), f"row {s}, technique {index}: note")


def check_column(body: dict[str, object], t: int, scenarios: int, written_upto: int) -> None:
    items = body["items"]
    assert isinstance(items, list)
    ours = [i for i in items if i["scenario"]["id"].startswith("bench-s")]
    expect(len(ours) == scenarios, f"column {t}: {len(ours)} scenarios, not {scenarios}")
    for index, item in enumerate(ours, start=1):
        want = support_of(index, t) if index <= written_upto else "unknown"
        got = item["support"]
        expect(got == want, f"column {t}, scenario {index}: {got}, not {want}")
