"""Officers' accounts: passwords hashed with argon2id, bearer secrets for sessions and integrations,
and the audit log of who changed which account or token.

A secret (session cookie or API token) is 32 random bytes shown once; only its SHA-256 is stored, which
is enough for a high-entropy secret and lets a lookup be one indexed read. Passwords are low-entropy,
so they get argon2 (argon2-cffi), never a plain hash. A password change, a reset or disabling an
account ends that officer's sessions; disabling also stops their API tokens (the lookup checks it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from gridedge.center.access import Officer, Role, check_jurisdiction
from gridedge.center.tables import AuditEntry, Credential, OfficerRow
from gridedge.edge.clock import Clock, SystemClock

SESSION_TTL_S = 12 * 3600
"""A login lasts one long shift."""
MIN_PASSWORD = 8
MAX_PASSWORD = 256
"""Longer input is refused before hashing: argon2 of a megabyte is work an attacker should not get free."""
TOKEN_ID_LEN = 16
"""A token is named in pages and the CLI by this many hex digits of its hash (never by the secret)."""
SESSION, API, CONFIG = "session", "api", "config"
_hasher = PasswordHasher()


@functools.cache
def _unknown_user_hash() -> str:
    """Verified against when the username is unknown or disabled, so a login takes as long either way.
    Made at the first such login, not at import: a hash costs 64 MiB and a tenth of a second."""
    return _hasher.hash("no such officer")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _officer(row: OfficerRow) -> Officer:
    codes = tuple(row.jurisdiction.split("/")) if row.jurisdiction else ()
    return Officer(username=row.username, name=row.name, role=Role(row.role), jurisdiction=codes)


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


@dataclass(frozen=True, slots=True)
class OfficerInfo:
    officer: Officer
    disabled: bool


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    username: str
    kind: str
    label: str
    created_at: float | None
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float
    actor: str
    action: str
    target: str
    detail: str


class Accounts:
    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None, clock: Clock | None = None) -> None:
        """`hasher` sets the cost of new hashes (tests make it cheap); verifying reads the cost from the hash."""
        self._engine = engine
        self._hasher = hasher or _hasher
        self._clock = clock or SystemClock()

    # officers

    def add_officer(
        self,
        username: str,
        name: str,
        role: Role,
        jurisdiction: Sequence[str],
        password: str,
        *,
        replace: bool = False,
        actor: str = CONFIG,
    ) -> Officer:
        """Create an officer (or, with `replace`, reset one); ValueError when the jurisdiction does not fit the role."""
        codes = check_jurisdiction(role, jurisdiction)
        row = OfficerRow(username=username, name=name, role=role.value, jurisdiction="/".join(codes), disabled=False)
        row.password_hash = self._hasher.hash(check_password(password))
        with Session(self._engine) as session, session.begin():
            existing = session.get(OfficerRow, username)
            if existing is not None and not replace:
                raise ValueError(f"officer {username!r} exists")
            session.merge(row)
            self._audit(session.connection(), actor, "officer.create", username, role=role.value, jurisdiction=codes)
        return _officer(row)

    def officer(self, username: str) -> Officer | None:
        with Session(self._engine) as session:
            row = session.get(OfficerRow, username)
            return _officer(row) if row is not None else None

    def officers(self) -> list[OfficerInfo]:
        with Session(self._engine) as session:
            rows = session.scalars(select(OfficerRow).order_by(OfficerRow.username))
            return [OfficerInfo(_officer(r), r.disabled) for r in rows]

    def set_role(self, actor: str, username: str, role: Role, jurisdiction: Sequence[str]) -> None:
        codes = check_jurisdiction(role, jurisdiction)
        with self._engine.begin() as conn:
            self._must_exist(conn, username)
            conn.execute(
                update(OfficerRow)
                .where(OfficerRow.username == username)
                .values(role=role.value, jurisdiction="/".join(codes))
            )
            self._audit(conn, actor, "officer.role", username, role=role.value, jurisdiction=codes)

    def set_disabled(self, actor: str, username: str, disabled: bool) -> None:
        """Disabling ends the officer's sessions now; their API tokens stop working while disabled."""
        with self._engine.begin() as conn:
            self._must_exist(conn, username)
            conn.execute(update(OfficerRow).where(OfficerRow.username == username).values(disabled=disabled))
            if disabled:
                self._end_sessions(conn, username)
            self._audit(conn, actor, "officer.disable" if disabled else "officer.enable", username)

    def reset_password(self, actor: str, username: str, password: str) -> None:
        """An admin sets a new password (the officer changes it after); sessions end."""
        new_hash = self._hasher.hash(check_password(password))
        with self._engine.begin() as conn:
            self._must_exist(conn, username)
            conn.execute(update(OfficerRow).where(OfficerRow.username == username).values(password_hash=new_hash))
            self._end_sessions(conn, username)
            self._audit(conn, actor, "officer.reset_password", username)

    def change_password(self, username: str, old: str, new: str) -> bool:
        """An officer's own change; False when `old` is wrong. Every session of theirs ends, this one too."""
        if self.login(username, old) is None:
            return False
        new_hash = self._hasher.hash(check_password(new))
        with self._engine.begin() as conn:
            conn.execute(update(OfficerRow).where(OfficerRow.username == username).values(password_hash=new_hash))
            self._end_sessions(conn, username)
            self._audit(conn, username, "officer.change_password", username)
        return True

    def login(self, username: str, password: str) -> Officer | None:
        """The officer when the password is right and the account enabled; None otherwise (same time)."""
        if len(password) > MAX_PASSWORD:
            return None
        with Session(self._engine) as session:
            row = session.get(OfficerRow, username)
        usable = row is not None and not row.disabled
        try:
            self._hasher.verify(row.password_hash if row is not None and usable else _unknown_user_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        return _officer(row) if row is not None and usable else None

    # secrets: sessions and API tokens

    def issue(self, username: str, *, kind: str, label: str, now: float, ttl_s: float | None) -> str:
        """A new secret for `username`: a `session` or an `api` token (expiring, or not when ttl_s is None)."""
        secret = secrets.token_urlsafe(32)
        self.register(username, secret, kind=kind, label=label, expires_at=now + ttl_s if ttl_s else None, now=now)
        return secret

    def issue_token(self, actor: str, username: str, label: str, ttl_s: float | None) -> str:
        """An API token from the console or CLI, audited; the secret is shown once, here."""
        if self.officer(username) is None:
            raise ValueError(f"no officer {username!r}")
        now = self._clock.now()
        secret = self.issue(username, kind=API, label=label, now=now, ttl_s=ttl_s)
        with self._engine.begin() as conn:
            expires = now + ttl_s if ttl_s else None
            self._audit(conn, actor, "token.issue", username, token=_digest(secret)[:TOKEN_ID_LEN], expires_at=expires)
        return secret

    def register(
        self,
        username: str,
        secret: str,
        *,
        kind: str,
        label: str,
        expires_at: float | None = None,
        now: float | None = None,
    ) -> None:
        """Keep the hash of a secret (one made here, or an integration's token from the config file)."""
        row = Credential(
            token_sha256=_digest(secret),
            username=username,
            kind=kind,
            label=label,
            expires_at=expires_at,
            created_at=now if now is not None else self._clock.now(),
        )
        with Session(self._engine) as session, session.begin():
            session.merge(row)

    def sync_config_tokens(self, tokens: Iterable[tuple[str, str, str]]) -> None:
        """Make the config file's tokens (officer, secret, label) the only `config` tokens: one that the
        file no longer lists stops working."""
        wanted = {_digest(secret): (officer, secret, label) for officer, secret, label in tokens}
        with self._engine.begin() as conn:
            have = set(conn.execute(select(Credential.token_sha256).where(Credential.kind == CONFIG)).scalars())
            gone = have - wanted.keys()
            if gone:
                conn.execute(delete(Credential).where(Credential.token_sha256.in_(gone)))
                for sha in sorted(gone):
                    self._audit(conn, CONFIG, "token.revoke", sha[:TOKEN_ID_LEN], why="no longer in the config file")
        for sha, (officer, secret, label) in wanted.items():
            if sha not in have:
                self.register(officer, secret, kind=CONFIG, label=label)

    def holder(self, secret: str, *, now: float) -> Officer | None:
        """The officer a secret belongs to, None when unknown, expired or the officer is disabled."""
        stmt = (
            select(OfficerRow, Credential.expires_at)
            .join(Credential, Credential.username == OfficerRow.username)
            .where(Credential.token_sha256 == _digest(secret), OfficerRow.disabled.is_(False))
        )
        with Session(self._engine) as session:
            found = session.execute(stmt).one_or_none()
        if found is None or (found[1] is not None and found[1] <= now):
            return None
        return _officer(found[0])

    def revoke(self, secret: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(Credential).where(Credential.token_sha256 == _digest(secret)))

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        """API tokens (issued and from the config), newest first; sessions are not listed."""
        stmt = select(Credential).where(Credential.kind != SESSION).order_by(Credential.created_at.desc())
        if username is not None:
            stmt = stmt.where(Credential.username == username)
        with Session(self._engine) as session:
            return [
                TokenInfo(c.token_sha256[:TOKEN_ID_LEN], c.username, c.kind, c.label, c.created_at, c.expires_at)
                for c in session.scalars(stmt)
            ]

    def revoke_token(self, actor: str, token_id: str) -> bool:
        """Revoke an API token by its id (see `tokens`); False when there is none."""
        if len(token_id) != TOKEN_ID_LEN:
            return False
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(Credential)
                .where(Credential.kind != SESSION, Credential.token_sha256.startswith(token_id, autoescape=True))
                .returning(Credential.username)
            ).all()
            for (username,) in gone:
                self._audit(conn, actor, "token.revoke", username, token=token_id)
        return bool(gone)

    def purge_expired(self, now: float) -> int:
        """Delete expired sessions and tokens; how many."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(Credential).where(Credential.expires_at <= now))
            return result.rowcount

    # audit

    def audit(self, actor: str, action: str, target: str, **detail: object) -> None:
        with self._engine.begin() as conn:
            self._audit(conn, actor, action, target, **detail)

    def audit_log(self, *, limit: int = 200, offset: int = 0) -> list[AuditRecord]:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)  # newest first
        with Session(self._engine) as session:
            return [AuditRecord(a.at, a.actor, a.action, a.target, a.detail) for a in session.scalars(stmt)]

    def _audit(self, conn: Connection, actor: str, action: str, target: str, **detail: object) -> None:
        row = {
            "at": self._clock.now(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
        }
        conn.execute(insert(AuditEntry), [row])

    @staticmethod
    def _end_sessions(conn: Connection, username: str) -> None:
        conn.execute(delete(Credential).where(Credential.username == username, Credential.kind == SESSION))

    @staticmethod
    def _must_exist(conn: Connection, username: str) -> None:
        if conn.execute(select(OfficerRow.username).where(OfficerRow.username == username)).first() is None:
            raise ValueError(f"no officer {username!r}")
