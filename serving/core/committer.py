"""Group commit of audit records: many concurrent decisions, one transaction, one fsync.

Each request hands its draft(s) to the committer and waits until the record is committed,
exactly as with ``Store.append`` (``append`` in a thread, ``append_async`` on the event
loop without holding a thread); meanwhile one writer thread takes everything
queued (up to ``max_group`` records) and commits it with ``Store.append_many``. A request
is never answered before its own record is on disk, and a failed group is retried unit by
unit so that one bad record cannot withhold its neighbours' decisions.
"""

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Final

from serving.core.db import Store
from serving.errors import AuditWriteError
from serving.schemas import DecisionDraft, StoredRecord

log = logging.getLogger(__name__)

_STOP: Final = None


@dataclass
class _Unit:
    """Drafts that commit together or not at all (one request's), and who waits for them."""

    drafts: list[DecisionDraft]
    done: Future[list[StoredRecord]] = field(default_factory=Future)


class AuditCommitter:
    """One writer thread in front of a store, committing queued drafts in groups.

    Args:
        store: the audit store.
        max_group: most records per transaction.
        wait_s: how long a caller waits for its commit before giving up with a 503 (its
            record may still commit later: an unanswered decision, never an unrecorded one).

    """

    def __init__(self, store: Store, *, max_group: int, wait_s: float) -> None:
        self._store = store
        self._max_group = max_group
        self._wait_s = wait_s
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="jifen-audit-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, drafts: list[DecisionDraft]) -> "Future[list[StoredRecord]]":
        """Queue ``drafts`` to commit together; the future holds their records or the error."""
        if self._closed:
            raise AuditWriteError("the audit writer is shut down; the decision is withheld")
        unit = _Unit(list(drafts))
        self._queue.put(unit)
        return unit.done

    def append(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
        """Commit ``drafts`` together and return their records, waiting in this thread.

        Raises:
            AuditWriteError: the transaction failed, or did not finish within the wait.

        """
        try:
            return self.submit(drafts).result(timeout=self._wait_s)
        except FutureTimeout:
            raise self._late(drafts) from None

    async def append_async(self, drafts: list[DecisionDraft]) -> list[StoredRecord]:
        """Commit ``drafts`` together; the event loop waits, no thread is held meanwhile.

        Raises:
            AuditWriteError: the transaction failed, or did not finish within the wait.

        """
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.submit(drafts)), self._wait_s)
        except TimeoutError:
            raise self._late(drafts) from None

    def _late(self, drafts: list[DecisionDraft]) -> AuditWriteError:
        first = drafts[0].decision_id if drafts else "?"
        return AuditWriteError(
            f"decision {first} was not confirmed by the audit writer within {self._wait_s:g} s"
        )

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=max(self._wait_s, 1.0))

    # --- writer thread -----------------------------------------------------------------------

    def _take_group(self, first: _Unit) -> tuple[list[_Unit], bool]:
        units, size, stop = [first], len(first.drafts), False
        while size < self._max_group:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is _STOP:
                stop = True
                break
            units.append(unit)
            size += len(unit.drafts)
        return units, stop

    def _commit(self, units: list[_Unit]) -> None:
        try:
            records = self._store.append_many([d for u in units for d in u.drafts])
        except AuditWriteError as exc:
            if len(units) == 1:
                units[0].done.set_exception(exc)
                return
            log.warning(
                "group commit of %d units failed (%s); retrying one by one", len(units), exc
            )
            for unit in units:
                self._commit([unit])
            return
        start = 0
        for unit in units:
            unit.done.set_result(records[start : start + len(unit.drafts)])
            start += len(unit.drafts)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            units, stop = self._take_group(first)
            try:
                self._commit(units)
            except Exception as exc:  # never leave a caller waiting on a dead writer
                log.exception("audit writer failed")
                for unit in units:
                    if not unit.done.done():
                        unit.done.set_exception(
                            AuditWriteError(f"the audit writer failed: {type(exc).__name__}")
                        )
            if stop:
                return
