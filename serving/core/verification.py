"""Verification of a whole audit log: every lane's chain, against its anchors.

``serving.core.audit`` checks one lane's rows; this walks every lane of a store, gives
each lane its anchors (published or given by hand), and names what no single lane can
show: a lane file gone or unregistered, and an anchored lane that is no longer in the log
(its file and its register row removed together).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from serving.core.audit import Anchor, AuditRow, ChainProblem, ChainVerifier
from serving.errors import StoreUnavailableError


class LogRows(Protocol):
    """What verifying a whole log needs from a store."""

    def lanes(self) -> list[int]:
        """Return the lanes of the log."""
        ...

    def lane_problems(self) -> list[str]:
        """Return what is wrong with the set of lanes itself."""
        ...

    def count(self, lane: int | None = None) -> int:
        """Return the number of records of one lane."""
        ...

    def iter_rows(self, *, lane: int = 0, from_sequence: int = 1) -> Iterator[AuditRow]:
        """Yield one lane's stored rows in sequence order."""
        ...


@dataclass
class LogVerification:
    """What verifying a log found."""

    checked: int = 0
    heads: list[AuditRow] = field(default_factory=list)
    """The last record of each non-empty lane checked."""
    lanes_checked: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    lane_problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """Whether nothing at all was found."""
        return not self.problems and not self.lane_problems


def anchors_by_lane(*sources: Iterable[Anchor]) -> dict[int, list[Anchor]]:
    """Group anchors from several sources by lane."""
    grouped: dict[int, list[Anchor]] = {}
    for source in sources:
        for anchor in source:
            grouped.setdefault(anchor.lane, []).append(anchor)
    return grouped


def verify_log(
    store: LogRows,
    anchors: Mapping[int, Sequence[Anchor]],
    on_progress: Callable[[int, int], None] | None = None,
) -> LogVerification:
    """Check every lane of ``store`` against its ``anchors``; name every problem found.

    ``on_progress(done, total)`` is called every thousand records and at the end.
    """
    result = LogVerification(lane_problems=store.lane_problems())
    lanes = store.lanes()
    counts: dict[int, int] = {}
    for lane in lanes:
        try:
            counts[lane] = store.count(lane)
        except StoreUnavailableError:
            continue  # its file is gone: named by lane_problems
    total = sum(counts.values())
    for lane in counts:
        verifier = ChainVerifier(lane=lane, anchors=tuple(anchors.get(lane, ())))
        for row in store.iter_rows(lane=lane):
            verifier.check(row)
            if on_progress is not None and (result.checked + verifier.checked) % 1000 == 0:
                on_progress(result.checked + verifier.checked, total)
        result.problems.extend(verifier.finish())
        result.checked += verifier.checked
        result.lanes_checked += 1
        if verifier.head is not None:
            result.heads.append(verifier.head)
    if on_progress is not None:
        on_progress(result.checked, total)
    for lane in sorted(set(anchors) - set(counts)):
        gone = (
            "its file cannot be read"
            if lane in lanes
            else "the log has no such lane (its file and register row are gone)"
        )
        for anchor in anchors[lane]:
            result.lane_problems.append(
                f"lane {lane}: anchored at #{anchor.sequence} (hash {anchor.hash[:16]}…, "
                f"anchor {anchor.origin}) but {gone}"
            )
    return result
