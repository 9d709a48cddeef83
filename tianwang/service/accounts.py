"""Who may call the service: people with accounts, systems with API keys, and their roles.

* People log in with a username and password (scrypt-hashed, never stored raw) and get
  a login token: ``twt_<payload>.<signature>``, HMAC-SHA256 under a key derived from
  ``TIANWANG_SECRET``, valid for ``TIANWANG_TOKEN_TTL`` seconds.
* Systems call with an API key ``tw_<prefix>_<secret>``: only its SHA-256 is kept, the
  prefix names it in lists and logs, and it is shown once, when created. A client may
  hold several keys at once, so keys rotate without downtime.

Roles: ``scorer`` (the approval system), ``investigator``, ``analyst``, ``approver``
(approves analysts' proposals) and ``admin``.

Examples
--------
>>> hashed = hash_password("correct horse")
>>> verify_password("correct horse", hashed), verify_password("wrong", hashed)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tianwang.errors import InvalidRequestError, NotFoundError, StateConflictError
from tianwang.ids import new_id
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import ApiKey, User, utcnow
from tianwang.service.audit import audit

__all__ = [
    "ROLES",
    "Accounts",
    "Principal",
    "hash_password",
    "verify_password",
]

ROLES = ("scorer", "investigator", "analyst", "approver", "admin")

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of a password (salted, slow on purpose)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + salt.hex() + "$" + digest.hex()


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` result (in constant time)."""
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, checked against :data:`ROLES` (:class:`InvalidRequestError` on ``roles``)."""
    listed = list(dict.fromkeys(roles))
    unknown = [r for r in listed if r not in ROLES]
    if unknown or not listed:
        raise InvalidRequestError("roles", f"give one or more of {', '.join(ROLES)}")
    return listed


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person (``kind="user"``) or a system's key (``kind="key"``)."""

    id: str
    kind: str
    name: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "roles": sorted(self.roles)}


class Accounts:
    """Users, API keys and login tokens in the operational database."""

    def __init__(self, ops: OpsDB, secret: bytes, *, token_ttl: int = 8 * 3600) -> None:
        self.ops = ops
        self._token_key = hmac.new(secret, b"tianwang login tokens v1", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"tianwang anti-forgery tokens v1", hashlib.sha256).digest()
        self.token_ttl = token_ttl
        self._key_cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    # -- people ---------------------------------------------------------------------------
    def add_user(self, username: str, password: str, roles: Iterable[str], *, display_name: str = "",
                 actor: Any = "cli") -> str:
        """Create an account; return its id. :class:`StateConflictError` if the name is taken."""
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").replace(
                "-", "").isalnum():
            raise InvalidRequestError("username", "use 1-64 letters, digits, '.', '-' or '_'")
        if len(password) < 8:
            raise InvalidRequestError("password", "use 8 characters or more")
        user = User(id=new_id("usr"), username=username, display_name=display_name or username,
                    password_hash=hash_password(password), roles=check_roles(roles), created_at=utcnow())
        try:
            with self.ops.session() as session:
                session.add(user)
                audit(session, actor, "user.create", "user", [user.id], roles=sorted(user.roles))
        except IntegrityError:
            raise StateConflictError("username_taken", f"a user named {username!r} exists") from None
        return user.id

    def login(self, username: str, password: str) -> tuple[str, Principal] | None:
        """A login token and the person, or ``None`` for a wrong name or password."""
        with self.ops.session() as session:
            user = session.scalar(select(User).where(User.username == username))
        if user is None or user.disabled:
            hash_password(password)  # the same work either way: no timing oracle for names
            return None
        if not verify_password(password, user.password_hash):
            return None
        principal = Principal(user.id, "user", user.username, frozenset(user.roles))
        payload = {"sub": user.id, "name": user.username, "roles": sorted(user.roles),
                   "exp": int(time.time()) + self.token_ttl}
        return self._sign(payload), principal

    def _sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")
        signature = hmac.new(self._token_key, body.encode(), hashlib.sha256).hexdigest()
        return f"twt_{body}.{signature}"

    def from_token(self, token: str) -> Principal | None:
        """The person a login token names, or ``None`` if it is forged or expired."""
        if not token.startswith("twt_") or "." not in token:
            return None
        body, signature = token[4:].rsplit(".", 1)
        expected = hmac.new(self._token_key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if payload.get("exp", 0) < time.time():
            return None
        return Principal(payload["sub"], "user", payload["name"], frozenset(payload["roles"]))

    def csrf_token(self, token: str) -> str:
        """The anti-forgery token bound to one login token.

        A page that logs in with the session cookie gets it in the login answer and sends
        it back in ``X-CSRF-Token`` with every change; another site can make the browser
        send the cookie, but cannot read this token (it is in no cookie), nor compute it
        (it is keyed by the service's secret).
        """
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, token: str, sent: str | None) -> bool:
        """Whether ``sent`` is the anti-forgery token of ``token`` (compared in constant time)."""
        return sent is not None and hmac.compare_digest(self.csrf_token(token), sent)

    # -- systems --------------------------------------------------------------------------
    def create_key(self, client: str, roles: Iterable[str], *, created_by: str = "cli") -> tuple[str, ApiKey]:
        """A new API key for ``client``: the key itself (shown only now) and its record."""
        if not client or len(client) > 64:
            raise InvalidRequestError("client", "name the client in 1-64 characters")
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(24)
        raw = f"tw_{prefix}_{secret}"
        record = ApiKey(id=new_id("key"), prefix=prefix, key_hash=hashlib.sha256(raw.encode()).hexdigest(),
                        client=client, roles=check_roles(roles), created_at=utcnow(), created_by=created_by)
        with self.ops.session() as session:
            session.add(record)
            audit(session, created_by, "key.create", "api_key", [prefix], client=client, roles=sorted(record.roles))
        return raw, record

    def revoke_key(self, prefix: str, *, actor: Any = "cli") -> None:
        """Revoke the key with this prefix (it stops working at once on this process, within 30 s elsewhere)."""
        with self.ops.session() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if key is None:
                raise NotFoundError("api key", prefix)
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                audit(session, actor, "key.revoke", "api_key", [prefix], client=key.client)
        with self._lock:
            self._key_cache = {k: v for k, v in self._key_cache.items() if v[1].id != prefix}

    def list_keys(self) -> list[ApiKey]:
        with self.ops.session() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def cached_key(self, raw: str) -> Principal | None:
        """The system a key names if :meth:`from_key` found it valid in the last 30 seconds,
        else ``None`` (unknown here: ask :meth:`from_key`). Reads no database, so an event
        loop may call it."""
        cached = self._key_cache.get(hashlib.sha256(raw.encode()).hexdigest())
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def from_key(self, raw: str) -> Principal | None:
        """The system an API key names, or ``None`` for an unknown or revoked key.

        A key found valid is remembered for 30 seconds, so scoring does not read the
        database for every request.
        """
        digest = hashlib.sha256(raw.encode()).hexdigest()
        now = time.monotonic()
        cached = self._key_cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        parts = raw.split("_")
        if len(parts) < 3 or parts[0] != "tw":
            return None
        prefix = parts[1]
        with self.ops.session() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
                return None
            stamp = utcnow()
            if key.last_used_at is None or stamp - key.last_used_at > timedelta(minutes=1):
                key.last_used_at = stamp
            principal = Principal(key.prefix, "key", key.client, frozenset(key.roles))
        with self._lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[digest] = (now + 30.0, principal)
        return principal
