"""Officers' accounts: passwords hashed with argon2id, and bearer secrets for sessions and integrations.

A secret (session cookie or API token) is 32 random bytes shown once; only its SHA-256 is stored, which
is enough for a high-entropy secret and lets a lookup be one indexed read. Passwords are low-entropy,
so they get argon2 (argon2-cffi), never a plain hash.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from gridedge.center.access import Officer, Role, check_jurisdiction
from gridedge.center.tables import Credential, OfficerRow

SESSION_TTL_S = 12 * 3600
"""A login lasts one long shift."""
_hasher = PasswordHasher()


@functools.cache
def _unknown_user_hash() -> str:
    """Verified against when the username is unknown, so a login takes as long either way. Made at the
    first such login, not at import: a hash costs 64 MiB and a tenth of a second."""
    return _hasher.hash("no such officer")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _officer(row: OfficerRow) -> Officer:
    codes = tuple(row.jurisdiction.split("/")) if row.jurisdiction else ()
    return Officer(username=row.username, name=row.name, role=Role(row.role), jurisdiction=codes)


class Accounts:
    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        """`hasher` sets the cost of new hashes (tests make it cheap); verifying reads the cost from the hash."""
        self._engine = engine
        self._hasher = hasher or _hasher

    def add_officer(
        self, username: str, name: str, role: Role, jurisdiction: Sequence[str], password: str, *, replace: bool = False
    ) -> Officer:
        """Create an officer (or, with `replace`, reset one); ValueError when the jurisdiction does not fit the role."""
        codes = check_jurisdiction(role, jurisdiction)
        if len(password) < 8:
            raise ValueError("a password has at least 8 characters")
        row = OfficerRow(username=username, name=name, role=role.value, jurisdiction="/".join(codes))
        row.password_hash = self._hasher.hash(password)
        with Session(self._engine) as session, session.begin():
            existing = session.get(OfficerRow, username)
            if existing is not None and not replace:
                raise ValueError(f"officer {username!r} exists")
            session.merge(row)
        return _officer(row)

    def officer(self, username: str) -> Officer | None:
        with Session(self._engine) as session:
            row = session.get(OfficerRow, username)
            return _officer(row) if row is not None else None

    def login(self, username: str, password: str) -> Officer | None:
        with Session(self._engine) as session:
            row = session.get(OfficerRow, username)
        try:
            self._hasher.verify(row.password_hash if row is not None else _unknown_user_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        return _officer(row) if row is not None else None

    def issue(self, username: str, *, kind: str, label: str, now: float, ttl_s: float | None) -> str:
        """A new secret for `username`: `session` (expires) or `api` (until revoked). Shown only now."""
        secret = secrets.token_urlsafe(32)
        self.register(username, secret, kind=kind, label=label, expires_at=now + ttl_s if ttl_s else None)
        return secret

    def register(self, username: str, secret: str, *, kind: str, label: str, expires_at: float | None = None) -> None:
        """Keep the hash of a secret made elsewhere (an integration's token from the config file)."""
        row = Credential(token_sha256=_digest(secret), username=username, kind=kind, label=label, expires_at=expires_at)
        with Session(self._engine) as session, session.begin():
            session.merge(row)

    def holder(self, secret: str, *, now: float) -> Officer | None:
        """The officer a secret belongs to, None when unknown or expired."""
        stmt = (
            select(OfficerRow, Credential.expires_at)
            .join(Credential, Credential.username == OfficerRow.username)
            .where(Credential.token_sha256 == _digest(secret))
        )
        with Session(self._engine) as session:
            found = session.execute(stmt).one_or_none()
        if found is None or (found[1] is not None and found[1] <= now):
            return None
        return _officer(found[0])

    def revoke(self, secret: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(Credential).where(Credential.token_sha256 == _digest(secret)))
