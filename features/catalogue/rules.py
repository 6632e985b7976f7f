"""Scoring rules (value to raw points) and stage rules (firm to stage), as configuration.

Both bin a number with the same convention: ``bounds`` are strictly increasing cut
points and ``points`` has one more entry than ``bounds``; a number below ``bounds[0]``
earns ``points[0]``, one in ``[bounds[i-1], bounds[i])`` earns ``points[i]``, and one at
or above the last bound earns ``points[-1]``.
"""

import itertools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["higher_is_better", "lower_is_better"]
PeerKey = Literal["zone_id", "industry"]
_DEFAULT_PEERS: tuple[PeerKey, ...] = ("zone_id", "industry")


class _Bins(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bounds: Annotated[list[float], Field(min_length=1)]
    points: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2)]

    @model_validator(mode="after")
    def _shape(self) -> "_Bins":
        if len(self.points) != len(self.bounds) + 1:
            raise ValueError(
                f"points must have one entry more than bounds; got {len(self.points)} points "
                f"for {len(self.bounds)} bounds"
            )
        if any(b <= a for a, b in itertools.pairwise(self.bounds)):
            raise ValueError(f"bounds must be strictly increasing; got {self.bounds}")
        return self


def _monotone(points: list[float], increasing: bool) -> bool:
    pairs = list(itertools.pairwise(points))
    return all(b >= a for a, b in pairs) if increasing else all(b <= a for a, b in pairs)


class ThresholdRule(_Bins):
    """Points from fixed bounds on the indicator value itself (in the indicator's unit)."""

    kind: Literal["thresholds"]

    def check_direction(self, direction: Direction) -> None:
        """Raise if points do not move with the value the way ``direction`` says."""
        increasing = direction == "higher_is_better"
        if not _monotone(self.points, increasing):
            trend = "non-decreasing" if increasing else "non-increasing"
            raise ValueError(f"scoring.points must be {trend} for {direction}; got {self.points}")


class PercentileRule(_Bins):
    """Points from bounds on the firm's percentile (0-100] among its peers as of the date.

    The percentile is oriented by the indicator's direction: the share of peers whose
    value is no better than the firm's. Peers are firms with a value in the same
    ``peer_group``; when fewer than ``min_peers`` have one, the last key is dropped
    (zone x industry, then zone, then the whole population scored).
    """

    kind: Literal["percentile"]
    peer_group: list[PeerKey] = Field(default_factory=lambda: list(_DEFAULT_PEERS))
    min_peers: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _percent_bounds(self) -> "PercentileRule":
        if self.bounds[0] <= 0 or self.bounds[-1] > 100:
            raise ValueError(f"scoring.bounds must lie in (0, 100]; got {self.bounds}")
        return self

    def check_direction(self, direction: Direction) -> None:
        """Raise unless points rise with the percentile (already oriented by direction)."""
        if not _monotone(self.points, increasing=True):
            raise ValueError(
                f"scoring.points must be non-decreasing in the percentile; got {self.points}"
            )


ScoringRule = Annotated[ThresholdRule | PercentileRule, Field(discriminator="kind")]
"""Any scoring rule, chosen by its ``kind``."""

StageField = Literal["firm_age_years", "revenue_wan", "staff_total"]
"""Facts a stage rule may test: age on the as-of date, and values of the current filing."""


class Condition(BaseModel):
    """One comparison of a firm fact with a number; a missing fact never matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: StageField
    op: Literal["<", "<=", ">", ">="]
    value: float


class StageRule(BaseModel):
    """Assign ``stage`` when any (or all) of the conditions hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    match: Literal["any", "all"] = "any"
    conditions: Annotated[list[Condition], Field(min_length=1)]


class StageRules(BaseModel):
    """Ordered stage rules: the first that matches wins, else ``default``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[StageRule]
    default: str
    confirmed: bool = False
    source: str
