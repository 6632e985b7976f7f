"""Which candidate is served: the best mean CV log loss, or a simpler one within one SE.

The rule is configuration (``selection.rule``) and the report states it. Under ``one_se``
(Breiman et al.'s one-standard-error rule) the candidate with the lowest mean
cross-validated log loss sets a bar, its mean plus one standard error of that mean; the
simplest candidate (order: ``selection.simplicity``) whose mean is under the bar is served.
A scorecard that is as good as the trees within the noise of the folds is the one a
validation team can read line by line, so it wins.
"""

from dataclasses import dataclass
from typing import Any

from training.candidates.base import CandidateResult
from training.config import SelectionConfig
from training.errors import TrainingError


@dataclass(frozen=True)
class Choice:
    """The served candidate, the best by CV log loss, and the sentence that says why."""

    selected: str
    best: str
    rule: str
    bar: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for metrics.json and the report."""
        return {
            "selected": self.selected,
            "best_cv_log_loss": self.best,
            "rule": self.rule,
            "bar": self.bar,
            "reason": self.reason,
        }


def choose(results: list[CandidateResult], config: SelectionConfig) -> Choice:
    """Apply the configured rule to the candidates' CV log losses.

    Raises:
        TrainingError: no candidate, or a candidate missing from ``selection.simplicity``.

    """
    if not results:
        raise TrainingError("no candidate was cross-validated; enable at least one")
    order = list(config.simplicity)
    unknown = [r.name for r in results if r.name not in order]
    if unknown:
        raise TrainingError(
            f"candidate(s) {unknown} are not in selection.simplicity {order}; add them"
        )
    best = min(results, key=lambda r: (r.cv_log_loss, order.index(r.name)))
    if config.serve != "auto":
        imposed = next((r for r in results if r.name == config.serve), None)
        if imposed is None:
            raise TrainingError(
                f"selection.serve names {config.serve!r}, which is not a candidate of this run "
                f"({[r.name for r in results]})"
            )
        return Choice(
            imposed.name,
            best.name,
            "imposed",
            best.cv_log_loss,
            f"{imposed.title}: imposed by selection.serve (mean CV log loss "
            f"{imposed.cv_log_loss:.5f}; the best was {best.title}, {best.cv_log_loss:.5f})",
        )
    if config.rule == "best":
        return Choice(
            best.name,
            best.name,
            "best",
            best.cv_log_loss,
            f"{best.title}: lowest mean CV log loss ({best.cv_log_loss:.5f})",
        )
    bar = best.cv_log_loss + best.cv_log_loss_se
    within = [r for r in results if r.cv_log_loss <= bar]
    chosen = min(within, key=lambda r: order.index(r.name))
    if chosen.name == best.name:
        reason = (
            f"{best.title}: lowest mean CV log loss ({best.cv_log_loss:.5f} ± "
            f"{best.cv_log_loss_se:.5f} SE), and no simpler candidate within one SE"
        )
    else:
        reason = (
            f"{chosen.title}: mean CV log loss {chosen.cv_log_loss:.5f} is within one SE of "
            f"the best ({best.title}, {best.cv_log_loss:.5f} + {best.cv_log_loss_se:.5f} = "
            f"{bar:.5f}), and it is the simpler model (one-SE rule)"
        )
    return Choice(chosen.name, best.name, "one_se", bar, reason)
