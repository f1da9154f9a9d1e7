"""API keys: generate, parse, hash, store, verify. No web framework here.

A key reads `ftm_<key_id>_<secret>`. Only the SHA-256 of the whole key is stored; the key id
finds the row and the hash is compared in constant time. Scopes nest: read < write < admin
(`service.vocabulary.SCOPES`).
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


def authenticate(conn: sa.Connection, key: str, now: datetime | None = None) -> Principal:
    """The principal a key stands for; 401 for a malformed, unknown, expired or revoked key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise unauthorized("The API key is malformed.")
    keys = table_of(ApiKey)
    row = conn.execute(
        sa.select(
            keys.c.name, keys.c.scope, keys.c.secret_hash, keys.c.expires_at, keys.c.revoked_at
        ).where(keys.c.key_id == parts[1])
    ).first()
    # Hash and compare even for an unknown id, so timing does not tell ids apart.
    expected = row.secret_hash if row is not None else hash_key("")
    if not hmac.compare_digest(hash_key(key), expected) or row is None:
        raise unauthorized("The API key is not valid.")
    now = now or datetime.now(UTC)
    if row.revoked_at is not None:
        raise unauthorized("The API key has been revoked.")
    expires = _utc(row.expires_at)
    if expires is not None and expires <= now:
        raise unauthorized("The API key has expired.")
    return Principal(name=row.name, scope=row.scope)


def unauthorized(detail: str) -> Unauthorized:
    """A 401 that tells the client its token was refused (RFC 6750 `invalid_token`)."""
    return Unauthorized(detail, headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
