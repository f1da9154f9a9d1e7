"""What every write route needs: the key, the reason, If-Match, dry run, one transaction; and
what the admin routes need: an admin key, and a transaction whose audit row commits with it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from pydantic_core import to_json
from sqlalchemy.engine import Connection, Engine

from service.admin.schemas import WriteResult
from service.admin.writer import WriteContext, Writer, stale
from service.db import current_revision, session_scope
from service.errors import PreconditionFailed, PreconditionRequired
from service.history import audit
from service.keys import Principal
from service.snapshot import SnapshotStore
from service.web.auth import AdminKey, WriteKey
from service.web.context import request_state
from service.web.deps import EngineDep, StoreDep, etag_for

T = TypeVar("T")

log = logging.getLogger("ftmatrix.snapshot")

ETAG = re.compile(r'^"rev-(\d+)(?:-[a-z]+)?"$')


@dataclass
class WriteRunner:
    """Runs one write: a transaction, a revision, its audit row; or, with dry_run, the diff only."""

    request: Request
    response: Response
    engine: Engine
    store: SnapshotStore
    principal: Principal
    reason: str
    if_match: str | None
    dry_run: bool

    def based_on(self, current: int) -> int:
        """The revision the caller read, from If-Match (RFC 9110 13.1.1): `*`, or a list of
        entity tags compared strongly (a weak `W/` tag never matches), any of which may name
        the current revision. 428 without the header, 412 when none matches."""
        if self.if_match is None:
            raise PreconditionRequired(
                f"Send If-Match with the ETag of your last read (now If-Match: "
                f'"rev-{current}"), so that a concurrent change is not overwritten.',
                current_etag=etag_for(current),
            )
        tags = [tag.strip() for tag in self.if_match.split(",") if tag.strip()]
        if tags == ["*"]:
            return current
        revisions = []
        for tag in tags or [self.if_match]:
            match = ETAG.match(tag)
            if match is None:
                why = "a weak tag never matches strongly" if tag.startswith("W/") else ""
                raise PreconditionFailed(
                    f"If-Match {tag!r} is not an ETag this service issued"
                    + (f" ({why})" if why else "")
                    + f'; the current one is "rev-{current}".',
                    allowed=['"rev-<N>"', '"rev-<N>-<variant>"', "*"],
                    current_etag=etag_for(current),
                )
            revisions.append(int(match.group(1)))
        return current if current in revisions else max(revisions)

    def run(
        self,
        apply: Callable[[Writer], None],
        location: Callable[[Written], str] | None = None,
    ) -> WriteResult:
        """Apply `apply` through a Writer as one revision, or roll back for a dry run.

        `location` names what a creating write created (its `Location` header, RFC 9110
        10.2.2); a dry run or a write that changed nothing creates nothing.
        """
        return WriteResult.model_validate(self.write(apply, location).fields())

    def write(
        self,
        apply: Callable[[Writer], None],
        location: Callable[[Written], str] | None = None,
    ) -> Written:
        """`run` without the `WriteResult` model: what was written, as plain values (a bulk
        edit records tens of thousands of changes, which its route serializes directly)."""
        state = request_state(self.request)
        engine, store = self.engine, self.store
        state.dry_run = self.dry_run
        if self.if_match is not None:
            # Revisions only grow, so an If-Match older than a revision already committed can
            # never succeed: answer its 412 from a plain read, without queueing for the write
            # lock (under contention most attempts are these). The transaction below checks
            # again, under the lock, for the writes that get past this.
            with engine.connect() as conn:
                newest = current_revision(conn)
            if self.based_on(newest) < newest:
                raise stale(self.based_on(newest), newest)
        with session_scope(engine, write=True) as session:
            current = current_revision(session.connection())
            based_on = self.based_on(current)
            ctx = WriteContext(author=self.principal.name, reason=self.reason, based_on=based_on)
            snap = store.at(current)
            if snap is None or based_on != current:
                raise stale(based_on, current)
            writer = Writer(session, snap, ctx)
            writer.open()
            apply(writer)
            created = writer.finish()
            if self.dry_run:
                session.rollback()
                self.response.status_code = 200  # nothing was created
                written = Written(current, None, True, writer.changes)
            else:
                record_success(
                    self.request, session.connection(), self.principal, self.reason, created
                )
                written = Written(created or current, created, False, writer.changes)
        # Committed: the audit row above is in, so the middleware must not add another.
        state.audited = not self.dry_run
        if written.created_revision is not None and writer.cells_only:
            try:
                store.follow(snap, written.created_revision, writer.cell_rows)
            except Exception:  # committed already: its first read loads it from the database
                log.exception(
                    "revision %s is read back: following its write failed",
                    written.created_revision,
                )
        if location is not None and written.created_revision is not None:
            self.response.headers["Location"] = location(written)
        self.response.headers["ETag"] = etag_for(written.revision)
        self.response.headers["X-Revision"] = str(written.revision)
        return written


@dataclass(frozen=True, slots=True)
class Written:
    """What a write did, as plain values in the layout of `WriteResult`."""

    revision: int
    created_revision: int | None
    dry_run: bool
    changes: list[dict[str, Any]]
    """The writer's records: `Change`'s fields, plain JSON values."""

    def fields(self) -> dict[str, Any]:
        """`WriteResult`'s fields, in its order."""
        return {
            "revision": self.revision,
            "created_revision": self.created_revision,
            "dry_run": self.dry_run,
            "changes": self.changes,
        }

    def json(self) -> bytes:
        """The JSON `WriteResult` serializes to, without building it (the tests compare)."""
        return to_json(self.fields())


def record_success(
    request: Request,
    conn: Connection,
    principal: Principal,
    detail: str,
    revision: int | None = None,
) -> None:
    """Audit an accepted write on the write's own connection, so both commit together."""
    route = request.scope.get("route")
    audit.record(
        conn,
        audit.Attempt(
            key_name=principal.name,
            action=getattr(route, "name", None) or f"{request.method} {request.url.path}",
            target=request.url.path,
            status=getattr(route, "status_code", None) or 200,
            request_id=request_state(request).request_id,
            client=request.client.host if request.client else None,
            revision=revision,
            detail=detail,
        ),
    )


async def write_runner(
    request: Request,
    response: Response,
    engine: EngineDep,
    store: StoreDep,
    principal: WriteKey,
    x_change_reason: Annotated[
        str,
        Header(
            min_length=1,
            max_length=2000,
            description="Why this change is made; stored with the revision. Required.",
        ),
    ],
    if_match: Annotated[
        str | None,
        Header(description='The ETag of your last read, e.g. "rev-2". Required (428 without).'),
    ] = None,
    dry_run: Annotated[
        bool, Query(description="Return the diff the write would make, and write nothing.")
    ] = False,
) -> WriteRunner:
    return WriteRunner(
        request, response, engine, store, principal, x_change_reason.strip(), if_match, dry_run
    )


Writes = Annotated[WriteRunner, Depends(write_runner)]


@dataclass(frozen=True, slots=True)
class AdminRunner:
    """Runs an admin operation (keys, the audit log) with an admin key: reads on a connection,
    changes in one transaction together with their audit row."""

    request: Request
    engine: Engine
    principal: Principal

    def read(self, query: Callable[[Connection], T]) -> T:
        """`query(conn)` on a connection of its own."""
        with self.engine.connect() as conn:
            return query(conn)

    def change(self, apply: Callable[[Connection], T], detail: Callable[[T], str]) -> T:
        """`apply(conn)` and its audit row (`detail(result)`), committed together."""
        with session_scope(self.engine, write=True) as session:
            conn = session.connection()
            result = apply(conn)
            record_success(self.request, conn, self.principal, detail(result))
        request_state(self.request).audited = True
        return result


def admin_runner(request: Request, engine: EngineDep, principal: AdminKey) -> AdminRunner:
    return AdminRunner(request, engine, principal)


AdminOps = Annotated[AdminRunner, Depends(admin_runner)]
