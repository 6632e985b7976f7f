"""API keys: how they look, how they are stored, how a request proves it holds one.

A key reads ``jf_<key id>_<secret>``: the key id (12 hex characters) is public and goes
into logs and audit records; the secret (43 URL-safe characters, 256 random bits) is shown
once, when the key is created, and only its SHA-256 is stored. With that much entropy a
plain hash is enough (no salt or slow KDF is needed: there is nothing to brute-force).
Secrets are compared in constant time, also when the key id is unknown.

A key ring may trust a key it verified for a short while (``cache_s``) instead of reading
the store on every request: a bank system sends the same key hundreds of times a second.
A key revoked through the same ring stops at once; one revoked from another process
(``jifen keys revoke``, another worker) stops within ``cache_s``. Failures are never
remembered, so a new key works at once.
"""

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from serving.core.db import Store
from serving.errors import AuthenticationError, PermissionDeniedError
from serving.schemas import Caller, KeyPublic, Role, StoredKey

log = logging.getLogger(__name__)

KEY_FORMAT: Final = "jf_<key id>_<secret>"
_KEY_PATTERN: Final = re.compile(r"^jf_([a-z0-9]{1,32})_([A-Za-z0-9_-]{16,128})$")
_DUMMY_DIGEST: Final = "0" * 64
_DEMO: Final = {role: (f"demo{role.value}", f"demo-{role.value}-key-not-secret") for role in Role}
DEMO_KEYS: Final = {role: f"jf_{key_id}_{secret}" for role, (key_id, secret) in _DEMO.items()}
"""Published keys for local trials; only accepted when ``demo_keys`` is on (never in prod)."""
_DEMO_KEY_IDS: Final = frozenset(key_id for key_id, _ in _DEMO.values())
_CACHED_KEYS: Final = 1024
"""Most verified keys a ring remembers (a service has a handful of callers)."""


def secret_digest(secret: str) -> str:
    """Return the stored form of a secret: its SHA-256 in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """Return (key id, secret) of a well-formed key, or None."""
    match = _KEY_PATTERN.match(presented)
    return None if match is None else (match.group(1), match.group(2))


def new_key(role: Role, name: str) -> tuple[str, StoredKey]:
    """Make a key: the full key to show once, and the row to store."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    stored = StoredKey(
        key_id=key_id,
        name=name,
        role=role,
        secret_sha256=secret_digest(secret),
        created_at=datetime.now(UTC),
    )
    return f"jf_{key_id}_{secret}", stored


def public(key: StoredKey) -> KeyPublic:
    """Return what may be shown about a stored key (not its hash)."""
    return KeyPublic.model_validate(key.model_dump(exclude={"secret_sha256"}))


class KeyRing:
    """Creates, lists, revokes and checks API keys held in a store."""

    def __init__(
        self,
        store: Store,
        *,
        allow_demo: bool = False,
        cache_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._allow_demo = allow_demo
        self._cache_s = cache_s
        self._clock = clock
        # SHA-256 of the full presented key → (trusted until, caller); never the key itself.
        self._verified: dict[str, tuple[float, Caller]] = {}

    def create(self, role: Role, name: str) -> tuple[str, KeyPublic]:
        """Create and store a key; return the full key (show it once) and its public view."""
        full, stored = new_key(role, name)
        self._store.insert_key(stored)
        log.info("created API key %s (%s, role %s)", stored.key_id, name, role.value)
        return full, public(stored)

    def list(self) -> list[KeyPublic]:
        """Return every key, revoked ones included."""
        return [public(k) for k in self._store.list_keys()]

    def revoke(self, key_id: str) -> KeyPublic:
        """Revoke a key from now on; KeyNotFoundError if it does not exist."""
        key = public(self._store.revoke_key(key_id))
        self._verified.clear()
        log.info("revoked API key %s", key_id)
        return key

    def ensure_demo_keys(self) -> None:
        """Store the published demo keys if they are missing (development only)."""
        for role, (key_id, secret) in _DEMO.items():
            if self._store.get_key(key_id) is None:
                self._store.insert_key(
                    StoredKey(
                        key_id=key_id,
                        name=f"demo {role.value}",
                        role=role,
                        secret_sha256=secret_digest(secret),
                        created_at=datetime.now(UTC),
                    )
                )

    def authenticate(self, presented: str | None) -> Caller:
        """Return who holds ``presented``; AuthenticationError if missing, unknown or revoked."""
        if not presented:
            raise AuthenticationError(
                f"missing API key: send the header 'Authorization: Bearer {KEY_FORMAT}'"
            )
        parts = split_key(presented)
        if parts is None:
            raise AuthenticationError(f"malformed API key: expected {KEY_FORMAT}")
        if self._cache_s <= 0:
            return self._verify(*parts)
        digest = secret_digest(presented)
        trusted = self._verified.get(digest)
        now = self._clock()
        if trusted is not None and trusted[0] > now:
            return trusted[1]
        caller = self._verify(*parts)
        if len(self._verified) >= _CACHED_KEYS:
            self._verified.clear()
        self._verified[digest] = (now + self._cache_s, caller)
        return caller

    def _verify(self, key_id: str, secret: str) -> Caller:
        """Check a well-formed key against the store."""
        stored = self._store.get_key(key_id)
        expected = stored.secret_sha256 if stored is not None else _DUMMY_DIGEST
        matches = hmac.compare_digest(secret_digest(secret), expected)
        if stored is None or not matches:
            log.warning("rejected API key %s: unknown key id or wrong secret", key_id)
            raise AuthenticationError("invalid API key")
        if stored.revoked_at is not None:
            raise AuthenticationError(f"API key {key_id} was revoked")
        if key_id in _DEMO_KEY_IDS and not self._allow_demo:
            raise AuthenticationError(f"API key {key_id} is a demo key and demo keys are off")
        return Caller(key_id=key_id, name=stored.name, role=stored.role)


def authorize(caller: Caller, allowed: frozenset[Role], action: str) -> None:
    """Raise PermissionDeniedError unless the caller's role may perform ``action``."""
    if caller.role not in allowed:
        roles = " or ".join(sorted(r.value for r in allowed))
        raise PermissionDeniedError(
            f"API key {caller.key_id} has role {caller.role.value!r}; {action} requires "
            f"role {roles}"
        )
