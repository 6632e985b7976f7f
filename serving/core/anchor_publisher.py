"""The service's anchor publisher: every lane's head, signed, on a schedule and at close.

See ``serving.core.anchors`` for why; the publisher runs in a thread of each server
worker, so a worker that stops cleanly anchors the last records it wrote.
"""

import logging
import threading
from datetime import UTC, datetime

from serving.core.anchor_store import AnchorStore, open_anchor_store, read_published
from serving.core.anchors import AnchorKey, SignedAnchor, log_id
from serving.core.audit import Anchor
from serving.core.config import ServingSettings
from serving.core.db import Store
from serving.errors import StoreUnavailableError

log = logging.getLogger(__name__)


class AnchorPublisher:
    """Publishes the head of every lane of a store, signed, on a schedule and at close.

    A lane is published when its head moved since the last anchor, and only if the lane
    still holds that anchor's record with its hash: a cut or rewritten lane is never
    anchored over (it is logged as an error instead, and verify names it).
    """

    def __init__(
        self,
        store: Store,
        sink: AnchorStore,
        key: AnchorKey,
        log_name: str,
        every_s: float,
    ) -> None:
        self.store, self.sink, self.key, self.log_name = store, sink, key, log_name
        self.every_s = every_s
        self._last: dict[int, Anchor] | None = None
        """The last anchor of each lane (None until read from the sink)."""
        self.refused: dict[int, str] = {}
        """Lanes no longer anchored, and why (the lane was cut or rewritten)."""
        self._skipped: dict[int, str] = {}
        """Lanes that could not be read last time, and why (logged once)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Publish now, then every ``every_s`` in a background thread."""
        self._publish_logged()
        self._thread = threading.Thread(target=self._loop, name="jifen-audit-anchors", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the schedule and publish once more (call before the store is closed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s + 5)
        self._publish_logged()
        self.sink.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._publish_logged()

    def _publish_logged(self) -> None:
        try:
            self.publish()
        except Exception as exc:  # an outage of either store must not end the schedule
            log.error("audit anchors not published this time: %s", exc)

    def publish(self) -> list[SignedAnchor]:
        """Publish the heads that moved; return what was published.

        Raises:
            StoreUnavailableError: the log or the anchor store cannot be read or written.

        """
        with self._lock:
            last = self._known()
            lanes = self.store.lanes()
            heads = [head for lane in lanes if (head := self._head(lane, last))]
            for lane in sorted(set(last) - set(lanes) - set(self.refused)):
                self._refuse(lane, f"anchored at #{last[lane].sequence} but no longer in the log")
            if not heads:
                return []
            now = datetime.now(UTC)
            signed = [self.key.sign(self.log_name, head, now) for head in heads]
            self.sink.publish(signed, self.key)
            last.update({head.lane: head for head in heads})
            return signed

    def _known(self) -> dict[int, Anchor]:
        if self._last is None:  # never anchor before the anchors so far are known
            published = read_published(self.sink, self.log_name, {self.key.key_id})
            self._last = dict(published.anchors)
        return self._last

    def _head(self, lane: int, last: dict[int, Anchor]) -> Anchor | None:
        """Return the lane's head if it moved past its anchor and the anchor holds; else None."""
        if lane in self.refused:
            return None
        anchored = last.get(lane)
        try:
            head = self.store.head(lane)
            problem = None if anchored is None else self._anchor_problem(anchored)
        except StoreUnavailableError as exc:  # e.g. its file is gone: tried again next time
            if self._skipped.get(lane) != str(exc):
                log.error("audit lane %d not anchored this time: %s", lane, exc)
            self._skipped[lane] = str(exc)
            return None
        self._skipped.pop(lane, None)
        if problem is not None:
            self._refuse(lane, problem)
            return None
        if head is None or (anchored is not None and head.sequence == anchored.sequence):
            return None
        return Anchor(head.sequence, head.hash, lane)

    def _anchor_problem(self, anchored: Anchor) -> str | None:
        row = next(self.store.iter_rows(lane=anchored.lane, from_sequence=anchored.sequence), None)
        if row is None or row.sequence != anchored.sequence:
            return f"anchored #{anchored.sequence} is missing (the lane was cut)"
        if row.hash != anchored.hash:
            return (
                f"#{anchored.sequence}: expected hash {anchored.hash[:16]}…, found "
                f"{row.hash[:16]}… (the record was replaced)"
            )
        return None

    def _refuse(self, lane: int, why: str) -> None:
        self.refused[lane] = why
        log.error(
            "audit lane %d of %s is no longer anchored: %s; run 'jifen audit verify'",
            lane,
            self.store.description,
            why,
        )


def open_publisher(settings: ServingSettings, store: Store) -> AnchorPublisher | None:
    """Make the publisher the settings ask for (None when anchors are off); not started yet.

    Raises:
        ConfigError: the signing key cannot be made or read.

    """
    if not settings.anchors:
        log.warning("audit anchors are off: a cut audit tail would go unnoticed")
        return None
    key = AnchorKey.load_or_create(settings.anchor_key)
    sink = open_anchor_store(settings.anchor_target, timeout_s=settings.db_timeout_s)
    return AnchorPublisher(store, sink, key, log_id(settings.audit_target), settings.anchor_every_s)
