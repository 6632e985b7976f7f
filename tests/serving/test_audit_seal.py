"""Sealing builds the record body by hand: it must be exactly the draft's JSON dump."""

import json
from datetime import UTC, datetime

from serving.core.audit import canonical_json, hash_matches, prepare_draft, seal
from tests.serving.conftest import make_draft


def test_sealed_body_is_the_drafts_json_dump_plus_the_chain_fields() -> None:
    """Same keys, same values, same canonical text as ``model_dump(mode="json")`` gives."""
    draft = make_draft(3)
    recorded_at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    record, row = seal(draft, sequence=7, prev_hash="a" * 64, recorded_at=recorded_at)
    expected = {
        **draft.model_dump(mode="json"),
        "format": "jifen-audit/2",
        "sequence": 7,
        "recorded_at": "2026-01-02T03:04:05.678901Z",
        "prev_hash": "a" * 64,
    }
    assert row.body == canonical_json(expected)
    assert record.hash == row.hash and record.sequence == 7


def test_a_prepared_draft_seals_to_the_same_canonical_text_and_hash() -> None:
    """The draft's part written ahead, plus the chain's part, is the canonical body exactly."""
    draft = make_draft(5)
    recorded_at = datetime(2026, 5, 6, 7, 8, 9, 1, tzinfo=UTC)
    prepared = prepare_draft(draft)
    assert prepare_draft(prepared) is prepared
    direct = seal(draft, sequence=12, prev_hash="b" * 64, recorded_at=recorded_at)[1]
    ahead = seal(prepared, sequence=12, prev_hash="b" * 64, recorded_at=recorded_at)[1]
    assert ahead == direct
    assert ahead.body == canonical_json(json.loads(ahead.body))
    assert hash_matches(ahead)
