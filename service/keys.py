"""API keys: generate, parse, hash, store, verify, and cache verdicts. No web framework here.

A key reads `ftm_<key_id>_<secret>`. Only the SHA-256 of the whole key is stored; the key id
finds the row and the hash is compared in constant time. Scopes nest: read < write < admin
(`service.vocabulary.SCOPES`). Every write to the key table moves its generation (database
triggers, `models.ApiKeyGeneration`), which is what lets `KeyCache` be trusted between writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from service.models import ApiKey, table_of
from service.vocabulary import Scope

KEY_PREFIX = "ftm"
CHALLENGE = 'Bearer realm="ftmatrix"'
"""The `WWW-Authenticate` challenge of every 401."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name and scope (anonymous readers have no key)."""

    name: str
    scope: Scope


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    key_id: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def create_key(
    conn: sa.Connection, name: str, scope: Scope, expires_in_days: int | None = None
) -> str:
    """Store a new key and return its secret form (the only time it exists in clear)."""
    keys = table_of(ApiKey)
    if conn.execute(sa.select(keys.c.id).where(keys.c.name == name)).first() is not None:
        raise Conflict(f"A key named {name!r} already exists; names are never reused.")
    key = generate_key()
    key_id = key.split("_", 2)[1]
    now = datetime.now(UTC)
    conn.execute(
        keys.insert().values(
            key_id=key_id,
            name=name,
            scope=scope,
            secret_hash=hash_key(key),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
    )
    return key


def create_key_info(
    conn: sa.Connection, name: str, scope: Scope, expires_in_days: int | None = None
) -> tuple[KeyInfo, str]:
    """`create_key`, and the stored key's description (what the admin API answers)."""
    secret = create_key(conn, name, scope, expires_in_days)
    return next(k for k in list_keys(conn) if k.name == name), secret


KEY_FORMAT = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{32,}})$")


def generate_key() -> str:
    """A new key in clear (`ftm_<key id>_<secret>`); nothing is stored."""
    return f"{KEY_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def install_key(conn: sa.Connection, name: str, scope: Scope, key: str) -> bool:
    """Store a key generated elsewhere (e.g. kept in a secret store); True if it was added.

    Idempotent for the same name and key; a different key under an existing name is a 409.
    """
    match = KEY_FORMAT.match(key)
    if match is None:
        raise InvalidInput(
            "The key must look like ftm_<12 hex digits>_<at least 32 URL-safe characters>; "
            "make one with `ftmatrix keys generate`."
        )
    keys = table_of(ApiKey)
    row = conn.execute(sa.select(keys.c.secret_hash).where(keys.c.name == name)).first()
    if row is not None:
        if hmac.compare_digest(row.secret_hash, hash_key(key)):
            return False
        raise Conflict(f"A different key named {name!r} already exists.")
    conn.execute(
        keys.insert().values(
            key_id=match.group(1),
            name=name,
            scope=scope,
            secret_hash=hash_key(key),
            created_at=datetime.now(UTC),
        )
    )
    return True


def list_keys(conn: sa.Connection) -> list[KeyInfo]:
    """Every key, oldest first, without secrets."""
    keys = table_of(ApiKey)
    rows = conn.execute(
        sa.select(
            keys.c.name,
            keys.c.key_id,
            keys.c.scope,
            keys.c.created_at,
            keys.c.expires_at,
            keys.c.revoked_at,
        ).order_by(keys.c.id)
    ).all()
    return [
        KeyInfo(name, key_id, scope, _utc(created) or created, _utc(expires), _utc(revoked))
        for name, key_id, scope, created, expires, revoked in rows
    ]


def revoke_key(conn: sa.Connection, name: str) -> KeyInfo:
    """Revoke a key by name (idempotent: revoking twice keeps the first time)."""
    keys = table_of(ApiKey)
    conn.execute(
        keys.update()
        .where(keys.c.name == name, keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    found = next((k for k in list_keys(conn) if k.name == name), None)
    if found is None:
        raise NotFound(f"No key named {name!r}.", allowed=[k.name for k in list_keys(conn)])
    return found


@dataclass(frozen=True, slots=True)
class Admitted:
    """A key the database vouches for: who it stands for, and until when (POSIX seconds; None:
    no end). Expiry is left to the clock at each use (`principal_of`)."""

    principal: Principal
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Refused:
    """A key the database does not vouch for, and the 401's detail saying why."""

    detail: str


Verdict = Admitted | Refused


def verify(conn: sa.Connection, key: str) -> Verdict:
    """What the database says of `key` now: malformed, unknown, revoked, or whose it is."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return Refused("The API key is malformed.")
    keys = table_of(ApiKey)
    row = conn.execute(
        sa.select(
            keys.c.name, keys.c.scope, keys.c.secret_hash, keys.c.expires_at, keys.c.revoked_at
        ).where(keys.c.key_id == parts[1])
    ).first()
    # Hash and compare even for an unknown id, so timing does not tell ids apart.
    expected = row.secret_hash if row is not None else hash_key("")
    if not hmac.compare_digest(hash_key(key), expected) or row is None:
        return Refused("The API key is not valid.")
    if row.revoked_at is not None:
        return Refused("The API key has been revoked.")
    expires = _utc(row.expires_at)
    return Admitted(
        Principal(name=row.name, scope=row.scope),
        expires.timestamp() if expires is not None else None,
    )


def principal_of(verdict: Verdict, now: float) -> Principal:
    """The principal of an admitted key that has not expired at `now` (POSIX seconds); the
    401 otherwise."""
    if isinstance(verdict, Refused):
        raise unauthorized(verdict.detail)
    if verdict.expires_at is not None and verdict.expires_at <= now:
        raise unauthorized("The API key has expired.")
    return verdict.principal


def authenticate(conn: sa.Connection, key: str, now: datetime | None = None) -> Principal:
    """The principal a key stands for; 401 for a malformed, unknown, expired or revoked key."""
    return principal_of(verify(conn, key), (now or datetime.now(UTC)).timestamp())


class KeyCache:
    """Verdicts on keys (admissions and refusals), valid for one generation of the key table
    (`models.ApiKeyGeneration`).

    Entries are found by a BLAKE2s digest of the whole key, its id included (BLAKE2s rather
    than SHA-256: half the cost on a key's few bytes, and this digest is never stored), so no
    secret is kept in memory and a lookup tells an attacker nothing short of a preimage.
    `sync` with the generation the database is at empties the cache whenever it moved (any
    key created, installed, revoked, edited or deleted anywhere). `put` keeps a verdict only
    if it was looked up at the generation the cache is still at, so a lookup that raced a key
    write is never kept past it. Expiry is never cached away: `principal_of` checks the clock
    at every use.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.generation = -1
        self._verdicts: dict[bytes, Verdict] = {}

    def sync(self, generation: int) -> None:
        """Forget every verdict unless they were made at `generation`."""
        if generation != self.generation:
            self._verdicts.clear()
            self.generation = generation

    def get(self, key: str) -> Verdict | None:
        """The verdict kept for `key`, if any."""
        return self._verdicts.get(hashlib.blake2s(key.encode()).digest())

    def put(self, key: str, verdict: Verdict, generation: int) -> None:
        """Keep `verdict`, looked up after the database was seen at `generation`."""
        if generation != self.generation:
            return
        if len(self._verdicts) >= self.max_entries:
            self._verdicts.clear()  # a flood of made-up keys costs lookups, never memory
        self._verdicts[hashlib.blake2s(key.encode()).digest()] = verdict

    def __len__(self) -> int:
        return len(self._verdicts)


def unauthorized(detail: str) -> Unauthorized:
    """A 401 that tells the client its token was refused (RFC 6750 `invalid_token`)."""
    return Unauthorized(detail, headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
