"""Group commit of audit records: many concurrent decisions, one transaction, one fsync.

Each request hands its draft(s) to the committer on the event loop and waits until they
are committed, exactly as with ``Store.append``. Drafts queue on the loop; a request that
finds the writer idle hands it everything queued (up to ``max_group`` records), which it
commits with ``Store.append_many`` in the committer's own writer thread. The outcome comes
back to the loop in one callback that resolves the waiters and hands over the next group,
gathered while this one was on its way to disk: the thread hop and the fsync are paid once
per group, not once per request (that hop costs about as much CPU as sealing a record).

A request is never answered before its own record is on disk, and a failed group is retried
unit by unit so that one bad record cannot withhold its neighbours' decisions. With metrics
given, each group's commit time and size and each request's wait are recorded.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

from serving.core.audit import PreparedDraft
from serving.core.db import Store
from serving.core.metrics import Metrics
from serving.errors import AuditWriteError
from serving.schemas import DecisionDraft, StoredRecord

log = logging.getLogger(__name__)

MAX_QUEUED: Final = 10_000
"""Drafts waiting beyond this are refused at once (a stuck disk must not fill the memory
with requests that will time out anyway)."""


@dataclass
class _Unit:
    """Drafts that commit together or not at all (one request's), and who waits for them."""

    drafts: list[DecisionDraft | PreparedDraft]
    done: "asyncio.Future[list[StoredRecord]]"
    queued_at: float
    """``time.perf_counter()`` when the unit was handed over."""


@dataclass
class _Outcome:
    """What the writer thread made of one unit: its records or why it failed."""

    records: list[StoredRecord] | None = None
    error: AuditWriteError | None = None


def _observed(done: "asyncio.Future[list[StoredRecord]]") -> None:
    # A caller that gave up no longer awaits its unit: mark the outcome as seen.
    if not done.cancelled():
        done.exception()


@dataclass
class AuditCommitter:
    """Queues drafts on the event loop and commits them in groups from one writer thread.

    Args:
        store: the audit store.
        max_group: most records per transaction.
        wait_s: how long a caller waits for its commit before giving up with a 503 (its
            record may still commit later: an unanswered decision, never an unrecorded one).
        max_queued: most drafts waiting for the writer (one unit alone is always taken).
        metrics: where to record each group's commit time and size, and each unit's wait
            (None: not recorded).

    """

    store: Store
    max_group: int
    wait_s: float
    max_queued: int = MAX_QUEUED
    metrics: Metrics | None = None
    _queue: deque[_Unit] = field(default_factory=deque)
    _queued: int = 0
    _writing: bool = False
    """A group is with the writer thread (the next one gathers meanwhile)."""
    _closed: bool = False
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="jifen-audit-writer")
    )

    async def append_async(
        self, drafts: Sequence[DecisionDraft | PreparedDraft]
    ) -> list[StoredRecord]:
        """Commit ``drafts`` together and return their records, in order.

        The unit is queued at once and the writer started if idle. Its outcome reaches the
        caller in one step of the event loop after the commit: each step in between would
        let newly arrived requests run their evaluation first, and a timeout wrapped around
        a shielded future (``wait_for(shield(...))``) costs three such steps.

        Raises:
            AuditWriteError: the writer is shut down or its queue is full, the transaction
                failed, or it did not finish within the wait.

        """
        (outcome,) = await self.append_each([drafts])
        if isinstance(outcome, AuditWriteError):
            raise outcome
        return outcome

    async def append_each(
        self, units: Sequence[Sequence[DecisionDraft | PreparedDraft]]
    ) -> list[list[StoredRecord] | AuditWriteError]:
        """Commit each unit of drafts on its own (all of a unit or none), queued together.

        Units queued together usually share one transaction; if it fails they are retried
        one by one, so a unit that cannot be recorded withholds only its own decisions.

        Returns:
            Per unit, in order: its records, or why they were not recorded (the writer is
            shut down or its queue is full, the transaction failed, or the wait ran out).

        """
        loop = asyncio.get_running_loop()
        queued: list[_Unit | AuditWriteError] = [self._enqueue(loop, u) for u in units]
        if not self._writing and self._queue:
            self._submit(loop)
        waiting = [u for u in queued if isinstance(u, _Unit)]
        timer = loop.call_later(self.wait_s, self._expire, waiting)
        outcomes: list[list[StoredRecord] | AuditWriteError] = []
        try:
            # A caller that stops waiting cancels only its futures: the units stay in
            # their group and commit all the same.
            for unit in queued:
                if isinstance(unit, AuditWriteError):
                    outcomes.append(unit)
                    continue
                try:
                    outcomes.append(await unit.done)
                except AuditWriteError as exc:
                    outcomes.append(exc)
        finally:
            timer.cancel()
        return outcomes

    def _enqueue(
        self, loop: asyncio.AbstractEventLoop, drafts: Sequence[DecisionDraft | PreparedDraft]
    ) -> "_Unit | AuditWriteError":
        if self._closed:
            return AuditWriteError("the audit writer is shut down; the decision is withheld")
        if self._queued and self._queued + len(drafts) > self.max_queued:
            return AuditWriteError(
                f"the audit writer has {self._queued} records waiting for the disk; "
                "the decision is withheld"
            )
        unit = _Unit(list(drafts), loop.create_future(), time.perf_counter())
        unit.done.add_done_callback(_observed)
        self._queue.append(unit)
        self._queued += len(unit.drafts)
        return unit

    def close(self) -> None:
        """Refuse new drafts, let the group on its way to disk finish, stop the writer."""
        self._closed = True
        self._writer.shutdown(wait=True)

    # --- groups --------------------------------------------------------------------------------

    def _take_group(self) -> list[_Unit]:
        units = [self._queue.popleft()]
        size = len(units[0].drafts)
        while self._queue and size + len(self._queue[0].drafts) <= self.max_group:
            unit = self._queue.popleft()
            units.append(unit)
            size += len(unit.drafts)
        self._queued -= size
        return units

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand everything queued (up to ``max_group`` records) to the writer thread."""
        units = self._take_group()
        self._writing = True
        try:
            self._writer.submit(self._write_and_answer, loop, units)
        except RuntimeError:  # the writer is shut down: fail this group and all queued
            self._writing = False
            units += self._queue
            self._queue.clear()
            self._queued = 0
            failure = AuditWriteError("the audit writer is shut down; the decision is withheld")
            self._resolve(units, [_Outcome(error=failure) for _ in units])

    def _expire(self, units: list[_Unit]) -> None:
        for unit in units:
            if not unit.done.done():
                first = unit.drafts[0].decision_id if unit.drafts else "?"
                unit.done.set_exception(
                    AuditWriteError(
                        f"decision {first} was not confirmed by the audit writer within "
                        f"{self.wait_s:g} s"
                    )
                )

    def _answer(
        self, loop: asyncio.AbstractEventLoop, units: list[_Unit], outcomes: list[_Outcome]
    ) -> None:
        """On the event loop: resolve the group's callers, then send the next group."""
        self._resolve(units, outcomes)
        self._writing = False
        if self._queue:
            self._submit(loop)

    def _resolve(self, units: list[_Unit], outcomes: list[_Outcome]) -> None:
        answered = time.perf_counter()
        for unit, outcome in zip(units, outcomes, strict=True):
            if self.metrics is not None:
                self.metrics.audit_wait.observe(answered - unit.queued_at)
            if unit.done.done():  # expired, or its caller gave up
                continue
            if outcome.error is not None:
                unit.done.set_exception(outcome.error)
            else:
                unit.done.set_result(outcome.records or [])

    # --- writer thread ---------------------------------------------------------------------

    def _write_and_answer(self, loop: asyncio.AbstractEventLoop, units: list[_Unit]) -> None:
        try:
            outcomes = self._write(units)
        except Exception as exc:  # never leave a caller waiting on a dead writer
            log.exception("audit writer failed")
            failure = AuditWriteError(f"the audit writer failed: {type(exc).__name__}")
            outcomes = [_Outcome(error=failure) for _ in units]
        try:
            loop.call_soon_threadsafe(self._answer, loop, units, outcomes)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.warning(
                "an audit group of %d units finished after its event loop closed", len(units)
            )

    def _write(self, units: list[_Unit]) -> list[_Outcome]:
        start = time.perf_counter()
        try:
            return self._commit(units)
        finally:
            if self.metrics is not None:
                self.metrics.audit_commit.observe(time.perf_counter() - start)
                self.metrics.audit_group.observe(sum(len(u.drafts) for u in units))

    def _commit(self, units: list[_Unit]) -> list[_Outcome]:
        try:
            records = self.store.append_many([d for u in units for d in u.drafts])
        except AuditWriteError as exc:
            if len(units) == 1:
                return [_Outcome(error=exc)]
            log.warning(
                "group commit of %d units failed (%s); retrying one by one", len(units), exc
            )
            return [self._commit([unit])[0] for unit in units]
        outcomes, start = [], 0
        for unit in units:
            outcomes.append(_Outcome(records=records[start : start + len(unit.drafts)]))
            start += len(unit.drafts)
        return outcomes
