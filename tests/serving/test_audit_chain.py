"""The hash chain: its definition, and a verifier that names what was tampered with.

Tampering goes around the store, straight into the database with the append-only
triggers dropped, on SQLite and on the real PostgreSQL.
"""

import hashlib
import json
from datetime import UTC, datetime

import orjson
import pytest

from serving.core.audit import (
    GENESIS_HASH,
    Anchor,
    AuditRow,
    ChainProblem,
    canonical_json,
    genesis_hash,
    seal,
    verify_rows,
)
from serving.core.db import Store
from serving.errors import AuditIntegrityError
from tests.serving.conftest import Backend, make_draft

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _fill(store: Store, n: int) -> list[str]:
    return [store.append(make_draft(i)).decision_id for i in range(n)]


def _problems(store: Store, anchor: Anchor | None = None) -> list[ChainProblem]:
    return verify_rows(store.iter_rows(), anchor=anchor)


def test_hash_is_sha256_of_canonical_body_when_recomputed_independently(store: Store) -> None:
    """An auditor recomputes any hash with hashlib from the stored body alone, and orjson
    (sorted keys) writes the same text again from the parsed body."""
    first, second = store.append(make_draft(1)), store.append(make_draft(2))
    for record in (first, second):
        row = next(r for r in store.iter_rows() if r.decision_id == record.decision_id)
        assert hashlib.sha256(row.body.encode("utf-8")).hexdigest() == record.hash
        body = json.loads(row.body)
        assert orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode() == row.body
        assert "hash" not in body and body["format"] == "jifen-audit/2"
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert (first.sequence, second.sequence) == (1, 2)


def test_canonical_json_is_independent_of_key_order_and_refuses_nan() -> None:
    """Key order never changes the text; NaN cannot be sealed."""
    assert canonical_json({"b": 1, "a": {"d": 2.5, "c": "研发"}}) == canonical_json(
        {"a": {"c": "研发", "d": 2.5}, "b": 1}
    )
    assert canonical_json({"a": [1, 2]}) == '{"a":[1,2]}'
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_json({"pd": float("nan")})
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_json({"a": [{"b": float("-inf")}]})


@pytest.mark.parametrize("value", [1e-05, 1.5e-07, 1.234e-05, 1e16, 0.1, -0.0, 5e-324])
def test_the_two_formats_spell_a_float_each_their_own_way_and_read_back_the_same(
    value: float,
) -> None:
    """Format 1 writes repr (1e-05), format 2 orjson's shortest text (0.00001): one double."""
    v1, v2 = canonical_json({"x": value}, "jifen-audit/1"), canonical_json({"x": value})
    assert v1 == json.dumps({"x": value}, separators=(",", ":"))
    assert json.loads(v1) == json.loads(v2) == {"x": value}
    with pytest.raises(ValueError, match="audit format must be one of"):
        canonical_json({"x": value}, "jifen-audit/9")


def test_records_sealed_in_format_1_still_verify_and_their_tampering_is_named() -> None:
    """A log written before format 2 verifies intact; an edit of one of its records is
    named as altered (its hash checked against the format-1 text)."""
    rows, prev = [], GENESIS_HASH
    for n in (1, 2, 3):
        body = {
            "format": "jifen-audit/1",
            "sequence": n,
            "decision_id": f"dec_{n}",
            "prev_hash": prev,
            "outputs": {"pd": 1.5e-05 * n},
        }
        text = canonical_json(body, "jifen-audit/1")
        digest = hashlib.sha256(text.encode()).hexdigest()
        rows.append(AuditRow(n, f"dec_{n}", prev, digest, text))
        prev = digest
    assert "1.5e-05" in rows[0].body
    assert verify_rows(rows) == []
    edited = rows[1].body.replace("3e-05", "3e-06")
    rows[1] = AuditRow(2, "dec_2", rows[1].prev_hash, rows[1].hash, edited)
    assert [(p.sequence, p.kind) for p in verify_rows(rows)] == [(2, "altered")]


def test_verify_passes_when_chain_is_intact(store: Store) -> None:
    """An untouched log of several records has no problems, and neither has an empty one."""
    assert _problems(store) == []
    _fill(store, 6)
    assert _problems(store) == []


def test_verify_names_record_when_a_field_is_altered(backend: Backend, store: Store) -> None:
    """Changing the grade inside record #3 names #3, its decision id, and the hash mismatch."""
    ids = _fill(store, 5)
    backend.tamper(
        'UPDATE audit_records SET body = replace(body, \'"grade":"B"\', \'"grade":"A"\') '
        "WHERE sequence = 3"
    )
    problems = _problems(store)
    assert [(p.sequence, p.decision_id, p.kind) for p in problems] == [(3, ids[2], "altered")]
    assert "does not match its hash" in problems[0].detail


def test_verify_names_record_when_decision_id_column_is_altered(
    backend: Backend, store: Store
) -> None:
    """A column that disagrees with the sealed body is named as altered."""
    _fill(store, 4)
    backend.tamper("UPDATE audit_records SET decision_id = 'dec_forged' WHERE sequence = 2")
    problems = _problems(store)
    assert [(p.sequence, p.decision_id, p.kind) for p in problems] == [(2, "dec_forged", "altered")]
    assert "decision_id column differs from the sealed decision_id" in problems[0].detail


def test_verify_names_gap_when_a_middle_record_is_deleted(backend: Backend, store: Store) -> None:
    """Deleting #3 of 5 is reported on #4 as '#3 missing', and nothing else."""
    ids = _fill(store, 5)
    backend.tamper("DELETE FROM audit_records WHERE sequence = 3")
    problems = _problems(store)
    assert [(p.sequence, p.decision_id, p.kind) for p in problems] == [(4, ids[3], "removed")]
    assert "#3 missing before this record" in problems[0].detail


def test_verify_names_both_records_when_two_are_swapped(backend: Backend, store: Store) -> None:
    """Swapping #2 and #3 names exactly those two as reordered, not their neighbours."""
    ids = _fill(store, 5)
    backend.tamper(
        "UPDATE audit_records SET sequence = 1000 WHERE sequence = 2",
        "UPDATE audit_records SET sequence = 2 WHERE sequence = 3",
        "UPDATE audit_records SET sequence = 3 WHERE sequence = 1000",
    )
    problems = _problems(store)
    assert [(p.sequence, p.decision_id, p.kind) for p in problems] == [
        (2, ids[2], "reordered"),
        (3, ids[1], "reordered"),
    ]
    assert problems[0].detail == "sealed as #3 but stored at #2"


def test_verify_names_next_record_when_one_is_rewritten_and_rehashed(
    backend: Backend, store: Store
) -> None:
    """A forger who re-hashes #3 after editing it breaks #4's link, which is named."""
    ids = _fill(store, 5)
    row = next(r for r in store.iter_rows() if r.sequence == 3)
    body = json.loads(row.body)
    body["outputs"]["decision"] = "decline"
    text = canonical_json(body)
    digest = hashlib.sha256(text.encode()).hexdigest()
    backend.tamper(
        f"UPDATE audit_records SET body = '{text}', hash = '{digest}' WHERE sequence = 3"
    )
    problems = _problems(store)
    assert [(p.sequence, p.decision_id, p.kind) for p in problems] == [(4, ids[3], "broken_link")]
    assert "is not the hash of #3" in problems[0].detail


def test_verify_detects_truncated_tail_only_with_an_anchor(backend: Backend, store: Store) -> None:
    """Deleting the last record leaves a valid chain; the anchor kept outside catches it."""
    _fill(store, 4)
    head = store.head()
    assert head is not None
    anchor = Anchor(head.sequence, head.hash)
    backend.tamper("DELETE FROM audit_records WHERE sequence = 4")
    assert _problems(store) == []
    problems = _problems(store, anchor)
    assert [(p.sequence, p.kind) for p in problems] == [(4, "removed")]
    assert "truncated" in problems[0].detail


def test_anchor_parse_refuses_malformed_text() -> None:
    """An anchor must be LANE:SEQUENCE:SHA256HEX or SEQUENCE:SHA256HEX."""
    assert Anchor.parse(f"12:{'A' * 64}") == Anchor(12, "a" * 64)
    assert Anchor.parse(f"3:12:{'b' * 64}") == Anchor(12, "b" * 64, lane=3)
    assert Anchor.parse(str(Anchor(7, "c" * 64, lane=2))) == Anchor(7, "c" * 64, lane=2)
    with pytest.raises(AuditIntegrityError, match="anchor must look like LANE:SEQUENCE:SHA256HEX"):
        Anchor.parse("12-abc")


def test_verify_names_record_whose_body_is_not_json() -> None:
    """A body that no longer parses is named as altered (pure check, no database)."""
    rows = [AuditRow(1, "dec_a", GENESIS_HASH, "f" * 64, "{not json")]
    problems = verify_rows(rows)
    assert [(p.sequence, p.kind, p.detail) for p in problems] == [
        (1, "altered", "sealed body is not valid JSON")
    ]


def test_a_lane_chain_verifies_only_as_its_own_lane() -> None:
    """Each lane starts from its own genesis: records moved to another lane break its chain."""
    rows, prev = [], genesis_hash(1)
    for i in range(3):
        _, row = seal(make_draft(i), sequence=i + 1, prev_hash=prev, recorded_at=NOW, lane=1)
        rows.append(row)
        prev = row.hash
    assert genesis_hash(1) not in (GENESIS_HASH, genesis_hash(2))
    assert verify_rows(rows, lane=1) == []
    for other in (0, 2):
        problems = verify_rows(rows, lane=other)
        assert [(p.lane, p.sequence, p.kind) for p in problems] == [(other, 1, "broken_link")]
