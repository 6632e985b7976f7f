"""API keys: stored as hashes only, checked in constant time, revocable, demo keys fenced."""

from pathlib import Path

import pytest

from serving.core.config import SqliteTarget
from serving.core.db import Store
from serving.core.security import DEMO_KEYS, KeyRing, authorize, new_key, split_key
from serving.errors import AuthenticationError, KeyNotFoundError, PermissionDeniedError
from serving.schemas import Caller, Role
from tests.serving.conftest import Backend


def test_created_key_has_the_documented_shape() -> None:
    """Keys read jf_<12 hex>_<43 url-safe characters>."""
    full, stored = new_key(Role.SCORER, "bank A")
    parts = split_key(full)
    assert parts is not None
    key_id, secret = parts
    assert key_id == stored.key_id and len(key_id) == 12 and len(secret) == 43


def test_database_never_contains_the_secret_when_key_is_created(
    backend: Backend, store: Store
) -> None:
    """Only the SHA-256 of the secret is stored; the secret appears nowhere in the database."""
    full, _ = KeyRing(store).create(Role.SCORER, "bank A loan system")
    secret = full.split("_", 2)[2]
    rows = backend.query("SELECT * FROM api_keys")
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0])
    if isinstance(backend.target, SqliteTarget):
        store.close()
        for path in Path(backend.target.path).parent.iterdir():
            assert secret.encode() not in path.read_bytes(), path


def test_authenticate_returns_caller_when_key_is_right(store: Store) -> None:
    """The right key authenticates as its key id, name and role."""
    ring = KeyRing(store)
    full, key = ring.create(Role.AUDITOR, "audit team")
    assert ring.authenticate(full) == Caller(
        key_id=key.key_id, name="audit team", role=Role.AUDITOR
    )


@pytest.mark.parametrize(
    ("presented", "message"),
    [
        (None, "missing API key: send the header 'Authorization: Bearer jf_<key id>_<secret>'"),
        ("", "missing API key"),
        ("hunter2", "malformed API key: expected jf_<key id>_<secret>"),
        ("jf_0123456789ab_" + "x" * 43, "invalid API key"),
    ],
    ids=["none", "empty", "malformed", "unknown-key-id"],
)
def test_authenticate_rejects_when_key_is_missing_malformed_or_unknown(
    store: Store, presented: str | None, message: str
) -> None:
    """Each way of not holding a key gets its own message; none reveals a stored secret."""
    with pytest.raises(AuthenticationError, match=message):
        KeyRing(store).authenticate(presented)


def test_authenticate_rejects_when_secret_is_wrong(store: Store) -> None:
    """A known key id with the wrong secret is 'invalid', like an unknown id."""
    ring = KeyRing(store)
    full, key = ring.create(Role.SCORER, "bank A")
    forged = f"jf_{key.key_id}_{'A' * 43}"
    assert forged != full
    with pytest.raises(AuthenticationError, match=r"^invalid API key$"):
        ring.authenticate(forged)


def test_authenticate_rejects_when_key_is_revoked(store: Store) -> None:
    """A revoked key stops working and says so; revoking an unknown id is an error."""
    ring = KeyRing(store)
    full, key = ring.create(Role.SCORER, "bank A")
    revoked = ring.revoke(key.key_id)
    assert revoked.revoked_at is not None
    assert [k.revoked_at is not None for k in ring.list()] == [True]
    with pytest.raises(AuthenticationError, match=f"API key {key.key_id} was revoked"):
        ring.authenticate(full)
    with pytest.raises(KeyNotFoundError, match="API key 'nope' does not exist"):
        ring.revoke("nope")


def test_demo_keys_work_only_when_allowed(store: Store) -> None:
    """Demo keys seeded in development are refused by a ring that does not allow them."""
    KeyRing(store, allow_demo=True).ensure_demo_keys()
    KeyRing(store, allow_demo=True).ensure_demo_keys()  # idempotent
    assert KeyRing(store, allow_demo=True).authenticate(DEMO_KEYS[Role.SCORER]).role == Role.SCORER
    with pytest.raises(AuthenticationError, match="demo key and demo keys are off"):
        KeyRing(store).authenticate(DEMO_KEYS[Role.SCORER])


def test_authorize_names_role_and_action_when_role_is_wrong() -> None:
    """A scorer reading decisions is told which role that needs."""
    caller = Caller(key_id="abc", name="bank", role=Role.SCORER)
    authorize(caller, frozenset({Role.SCORER}), "scoring")
    with pytest.raises(
        PermissionDeniedError,
        match="API key abc has role 'scorer'; reading decisions requires role auditor",
    ):
        authorize(caller, frozenset({Role.AUDITOR}), "reading decisions")


def test_every_role_can_be_stored_and_authenticated(store: Store) -> None:
    """The key table's role constraint (in the SQL files) accepts every Role."""
    ring = KeyRing(store)
    for role in Role:
        full, _ = ring.create(role, f"{role.value} key")
        assert ring.authenticate(full).role == role


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_revoked_elsewhere_stops_working_once_its_trust_expires(store: Store) -> None:
    """A ring trusts a verified key for cache_s: revoked from another process, it still
    passes until then, and is refused from the moment the trust runs out."""
    clock = _Clock()
    serving = KeyRing(store, cache_s=1.0, clock=clock)
    full, key = KeyRing(store).create(Role.SCORER, "bank A")
    assert serving.authenticate(full).key_id == key.key_id
    KeyRing(store).revoke(key.key_id)  # another process: `jifen keys revoke`
    clock.now += 0.9
    assert serving.authenticate(full).key_id == key.key_id
    clock.now += 0.2
    with pytest.raises(AuthenticationError, match=f"API key {key.key_id} was revoked"):
        serving.authenticate(full)


def test_a_key_revoked_through_the_ring_stops_at_once_and_failures_are_not_remembered(
    store: Store,
) -> None:
    """Revoking through the serving ring itself forgets every trusted key; a wrong secret
    is checked against the store every time (never served from the trust)."""
    ring = KeyRing(store, cache_s=60.0, clock=_Clock())
    full, key = ring.create(Role.SCORER, "bank A")
    forged = f"jf_{key.key_id}_{'A' * 43}"
    for _ in range(2):
        with pytest.raises(AuthenticationError, match=r"^invalid API key$"):
            ring.authenticate(forged)
    assert ring.authenticate(full).role == Role.SCORER
    ring.revoke(key.key_id)
    with pytest.raises(AuthenticationError, match=f"API key {key.key_id} was revoked"):
        ring.authenticate(full)
