"""Group commit: concurrent drafts share transactions, and one bad draft withholds only its own."""

import asyncio
import time

import pytest

from serving.core.audit import verify_rows
from serving.core.committer import AuditCommitter
from serving.core.db import Store
from serving.core.metrics import Metrics
from serving.errors import AuditWriteError
from serving.schemas import DecisionDraft, StoredRecord
from tests.serving.conftest import make_draft


class _CountingStore:
    """The real store, with the size of every transaction noted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.groups: list[int] = []

    def append_many(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
        self.groups.append(len(drafts))
        return self.store.append_many(drafts)


def test_concurrent_requests_share_transactions_and_keep_one_valid_chain(store: Store) -> None:
    """Forty concurrent units each get their own records back, in fewer than forty commits."""
    counting, metrics = _CountingStore(store), Metrics()
    committer = AuditCommitter(counting, max_group=16, wait_s=10, metrics=metrics)  # type: ignore[arg-type]
    drafts = [make_draft(i) for i in range(40)]

    async def submit_all() -> list[list[StoredRecord]]:
        return await asyncio.gather(*(committer.append_async([d]) for d in drafts))

    results = asyncio.run(submit_all())
    committer.close()
    assert [r[0].decision_id for r in results] == [d.decision_id for d in drafts]
    assert sum(counting.groups) == 40 and max(counting.groups) <= 16
    assert len(counting.groups) < 40
    assert store.count() == 40
    assert verify_rows(store.iter_rows()) == []
    # Every group is timed and sized, every unit's wait recorded.
    sample = metrics.registry.get_sample_value
    groups = len(counting.groups)
    assert sample("jifen_audit_commit_seconds_count") == groups
    assert sample("jifen_audit_group_records_count") == groups
    assert sample("jifen_audit_group_records_sum") == 40
    assert sample("jifen_audit_group_records_bucket", {"le": "16.0"}) == groups
    assert sample("jifen_audit_wait_seconds_count") == 40
    waited = sample("jifen_audit_wait_seconds_sum")
    assert waited is not None and waited >= sample("jifen_audit_commit_seconds_sum")  # type: ignore[operator]


def test_a_bad_draft_in_a_group_fails_alone_and_its_neighbours_commit(store: Store) -> None:
    """A group holding a non-finite draft is retried unit by unit: only that unit fails."""
    committer = AuditCommitter(store, max_group=64, wait_s=10)
    good = [make_draft(i) for i in range(3)]
    bad = make_draft(9).model_copy(update={"outputs": {"pd": float("nan")}})

    async def submit_all() -> list[object]:
        units = [[good[0]], [bad], [good[1], good[2]]]
        return await asyncio.gather(
            *(committer.append_async(u) for u in units), return_exceptions=True
        )

    first, failed, pair = asyncio.run(submit_all())
    committer.close()
    assert isinstance(failed, AuditWriteError)
    assert f"decision {bad.decision_id} cannot be sealed" in str(failed)
    assert isinstance(first, list) and isinstance(pair, list) and len(pair) == 2
    assert {r.decision_id for r in store.iter_records()} == {d.decision_id for d in good}
    assert verify_rows(store.iter_rows()) == []


def test_a_commit_slower_than_the_wait_is_a_503_but_the_record_still_lands(store: Store) -> None:
    """The caller stops waiting (no decision returned); the record commits afterwards."""

    class SlowStore(_CountingStore):
        def append_many(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
            time.sleep(0.5)
            return super().append_many(drafts)

    committer = AuditCommitter(SlowStore(store), max_group=4, wait_s=0.1)  # type: ignore[arg-type]
    draft = make_draft(1)

    async def submit() -> None:
        with pytest.raises(AuditWriteError, match="not confirmed by the audit writer within"):
            await committer.append_async([draft])
        await asyncio.sleep(1.0)

    asyncio.run(submit())
    committer.close()
    assert store.get(draft.decision_id).decision_id == draft.decision_id


def test_a_full_queue_and_a_closed_writer_refuse_at_once(store: Store) -> None:
    """Beyond the queue bound, or after close, the decision is withheld without waiting."""

    class StuckStore(_CountingStore):
        def append_many(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
            time.sleep(0.3)
            return super().append_many(drafts)

    committer = AuditCommitter(
        StuckStore(store),  # type: ignore[arg-type]
        max_group=2,
        wait_s=5,
        max_queued=3,
    )
    drafts = [make_draft(i) for i in range(6)]

    async def submit() -> list[object]:
        writing = asyncio.ensure_future(committer.append_async(drafts[:1]))
        await asyncio.sleep(0.05)  # the first group is now with the writer
        waiting = [asyncio.ensure_future(committer.append_async([d])) for d in drafts[1:4]]
        await asyncio.sleep(0)
        with pytest.raises(AuditWriteError, match="3 records waiting for the disk"):
            await committer.append_async(drafts[4:5])
        return await asyncio.gather(writing, *waiting)

    assert len(asyncio.run(submit())) == 4
    committer.close()

    async def after_close() -> None:
        with pytest.raises(AuditWriteError, match="shut down"):
            await committer.append_async(drafts[5:])

    asyncio.run(after_close())
    assert {r.decision_id for r in store.iter_records()} == {d.decision_id for d in drafts[:4]}


def test_a_caller_that_gives_up_cancels_only_its_wait_and_its_record_commits(
    store: Store,
) -> None:
    """A cancelled request (its client went away) leaves its unit in the group: it commits."""

    class SlowStore(_CountingStore):
        def append_many(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
            time.sleep(0.2)
            return super().append_many(drafts)

    slow = SlowStore(store)
    committer = AuditCommitter(slow, max_group=8, wait_s=5)  # type: ignore[arg-type]
    drafts = [make_draft(i) for i in range(4)]

    async def submit() -> list[object]:
        first = asyncio.ensure_future(committer.append_async(drafts[:1]))
        await asyncio.sleep(0.05)  # the first group is with the writer; the rest gather
        rest = [asyncio.ensure_future(committer.append_async([d])) for d in drafts[1:]]
        await asyncio.sleep(0)
        rest[0].cancel()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    first, cancelled, *others = asyncio.run(submit())
    committer.close()
    assert isinstance(cancelled, asyncio.CancelledError)
    assert isinstance(first, list) and all(isinstance(o, list) for o in others)
    assert slow.groups == [1, 3]  # the cancelled unit stayed in the second group
    assert {r.decision_id for r in store.iter_records()} == {d.decision_id for d in drafts}
    assert verify_rows(store.iter_rows()) == []


def test_units_queued_together_commit_each_on_its_own(store: Store) -> None:
    """append_each: one call, three units; the unsealable one fails alone, in its place."""
    counting = _CountingStore(store)
    committer = AuditCommitter(counting, max_group=64, wait_s=10)  # type: ignore[arg-type]
    good = [make_draft(i) for i in range(3)]
    bad = make_draft(9).model_copy(update={"outputs": {"pd": float("inf")}})

    async def submit() -> list[list[StoredRecord] | AuditWriteError]:
        return await committer.append_each([[good[0]], [bad], [good[1], good[2]]])

    first, failed, pair = asyncio.run(submit())
    committer.close()
    assert isinstance(failed, AuditWriteError) and bad.decision_id in str(failed)
    assert isinstance(first, list) and [r.decision_id for r in first] == [good[0].decision_id]
    assert isinstance(pair, list) and [r.decision_id for r in pair] == [
        good[1].decision_id,
        good[2].decision_id,
    ]
    assert counting.groups[0] == 4  # tried together first, then unit by unit
    assert {r.decision_id for r in store.iter_records()} == {d.decision_id for d in good}
    assert verify_rows(store.iter_rows()) == []
