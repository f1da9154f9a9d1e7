"""The database look before every answer: coalesced, strict, and failing as a 503 would."""

from __future__ import annotations

import asyncio
import itertools

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from service.config import Settings
from service.db import create_db_engine
from service.web.guard import database_unavailable
from service.web.revision import (
    Coalesced,
    EngineWatch,
    PostgresWatch,
    Seen,
    SqliteWatch,
    watch_for,
)
from tests.conftest import BACKEND, free_port
from tests.helpers import run


class SlowDatabase:
    """A query that takes `delay` seconds and stamps when it started on a shared clock."""

    def __init__(self, clock: itertools.count[int], delay: float = 0.01) -> None:
        self.clock = clock
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_next = False

    async def query(self) -> Seen:
        started = next(self.clock)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_next:
                self.fail_next = False
                raise ConnectionError("the database went away")
            return Seen(revision=started, keys=0)
        finally:
            self.in_flight -= 1


def test_every_answer_comes_from_a_query_started_after_the_call() -> None:
    clock = itertools.count()
    database = SlowDatabase(clock)
    coalesced = Coalesced(database.query)
    answers: list[tuple[int, int]] = []  # (when the caller arrived, when its query started)

    async def caller() -> None:
        arrived = next(clock)
        seen = await coalesced()
        answers.append((arrived, seen.revision))

    async def load() -> None:
        tasks = []
        for wave in range(5):  # waves of callers while queries are in flight
            tasks += [asyncio.create_task(caller()) for _ in range(40)]
            await asyncio.sleep(database.delay * (0.3 + wave * 0.25))
        await asyncio.gather(*tasks)

    run(load())
    assert len(answers) == 200
    assert all(started > arrived for arrived, started in answers), answers
    assert database.most_in_flight == 1
    # One query per round, not per caller: 200 callers, in at most two rounds per wave (the
    # one in flight when it arrived, then its own); more than one, as the waves overlap.
    assert 1 < coalesced.queries <= 10
    rounds = {started for _, started in answers}
    assert len(rounds) == coalesced.queries


def test_a_caller_waits_for_at_most_the_query_in_flight_and_its_own() -> None:
    clock = itertools.count()
    database = SlowDatabase(clock, delay=0.05)
    coalesced = Coalesced(database.query)

    async def scenario() -> tuple[float, Seen, Seen]:
        loop = asyncio.get_running_loop()
        first = asyncio.create_task(coalesced())
        await asyncio.sleep(0.02)  # the first query is in flight
        began = loop.time()
        late = await coalesced()
        return loop.time() - began, await first, late

    waited, first, late = run(scenario())
    assert late.revision > first.revision  # not the answer of the query already in flight
    assert coalesced.queries == 2
    assert waited < 2 * database.delay + 0.04  # the rest of the first query, then its own


def test_a_failed_query_fails_its_batch_and_the_next_call_asks_again() -> None:
    database = SlowDatabase(itertools.count())
    coalesced = Coalesced(database.query)

    async def scenario() -> tuple[list[BaseException | Seen], Seen]:
        database.fail_next = True
        batch = await asyncio.gather(*(coalesced() for _ in range(5)), return_exceptions=True)
        return batch, await coalesced()

    batch, after = run(scenario())
    assert all(isinstance(outcome, ConnectionError) for outcome in batch)
    assert isinstance(after, Seen)
    assert coalesced.queries == 2


def test_a_caller_that_leaves_does_not_cancel_the_query_for_the_others() -> None:
    database = SlowDatabase(itertools.count(), delay=0.05)
    coalesced = Coalesced(database.query)

    async def scenario() -> Seen:
        leaving = asyncio.create_task(coalesced())
        staying = asyncio.create_task(coalesced())
        await asyncio.sleep(0.01)
        leaving.cancel()
        return await staying

    assert isinstance(run(scenario()), Seen)
    assert coalesced.queries == 1


def test_an_unreachable_postgresql_is_an_operational_error_the_guard_knows() -> None:
    pytest.importorskip("psycopg")
    engine = sa.create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    watch = watch_for(engine)
    assert isinstance(watch, PostgresWatch)

    async def look() -> None:
        try:
            await watch.current()
        finally:
            await watch.aclose()

    with pytest.raises(sa_exc.OperationalError) as raised:
        run(look())
    assert database_unavailable(raised.value) == "unreachable"


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's own watch")
def test_postgresql_looks_are_coalesced_on_one_connection(database_url: str) -> None:
    engine = create_db_engine(Settings(database_url=database_url))
    watch = watch_for(engine)
    assert isinstance(watch, PostgresWatch)

    async def load() -> list[Seen]:
        try:
            return await asyncio.gather(*(watch.current() for _ in range(100)))
        finally:
            await watch.aclose()

    try:
        seen = run(load())
        with engine.connect() as conn:
            newest = conn.execute(sa.text("SELECT max(number) FROM revision")).scalar_one()
    finally:
        engine.dispose()
    assert {s.revision for s in seen} == {newest}
    assert watch.coalesced.queries == 1  # 100 concurrent callers, one query


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's own watch")
def test_sqlite_queries_only_after_a_commit(database_url: str) -> None:
    engine = create_db_engine(Settings(database_url=database_url))
    watch = watch_for(engine)
    assert isinstance(watch, SqliteWatch)
    try:
        first = watch.now()
        for _ in range(50):
            assert watch.now() == first
        assert watch.queries == 1
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE api_key_generation SET generation = generation + 1"))
        assert watch.now() == Seen(first.revision, first.keys + 1)
        assert watch.queries == 2
    finally:
        run(watch.aclose())
        engine.dispose()


def test_the_engine_watch_sees_what_the_backends_own_watch_sees(database_url: str) -> None:
    engine = create_db_engine(Settings(database_url=database_url))
    own, generic = watch_for(engine), EngineWatch(engine)

    async def both() -> tuple[Seen, Seen]:
        try:
            return await own.current(), await generic.current()
        finally:
            await own.aclose()
            await generic.aclose()

    try:
        seen_own, seen_generic = run(both())
    finally:
        engine.dispose()
    assert seen_own == seen_generic
    assert seen_own.revision >= 1
