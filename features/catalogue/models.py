"""The indicator catalogue: indicators, classes, stages, weights and policies, as data.

How points add up (the formula the engine applies, stated once here):

    weighted_points(firm, i) = raw_points(firm, i) / max_points(i) * weight(i, stage(firm))

Each indicator belongs to one *part* (``core``, ``bonus``, ``local`` ...). For every
stage, the weights of a part's indicators must sum to the part's declared ``total``, so
a firm with full raw points everywhere gets exactly the sum of the part totals (100 for
the national trial version, 100 + 30 for version 2.0), capped at ``total_cap`` if set.
Class points are the sum of a class's weighted points.
"""

import math
from collections import Counter
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.catalogue.rules import Direction, ScoringRule, StageRules
from features.catalogue.sources import Source

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
Weight = Annotated[float, Field(ge=0)]
_TOLERANCE = 1e-6


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorClass(_Frozen):
    """A first-level class of indicators (e.g. 技术创新 technological innovation)."""

    id: Identifier
    name_zh: str
    name_en: str
    expected_indicators: Annotated[int, Field(ge=1)] | None = None
    """How many indicators the published structure gives this class, checked when set."""


class Stage(_Frozen):
    """A development stage whose weights differ (e.g. 初创期 startup)."""

    id: Identifier
    name_zh: str
    name_en: str


class Part(_Frozen):
    """A group of indicators whose weights sum to ``total`` in every stage."""

    total: Annotated[float, Field(gt=0)]
    name_en: str = ""


class MissingPolicy(_Frozen):
    """What a missing input earns.

    ``zero``: no points, the indicator keeps its weight (the default).
    ``renormalise``: the part's weight is spread over the indicators the firm has, so
    missing data neither helps nor hurts; a firm missing everything in a part gets 0.
    Either way the trace flags the indicator ``missing`` with its reason.
    """

    points: Literal["zero", "renormalise"] = "zero"


class WhitelistRule(_Frozen):
    """Firms at or above ``threshold`` total points enter the white list pushed to banks."""

    threshold: Annotated[float, Field(ge=0)] = 60.0


class Indicator(_Frozen):
    """One second-level indicator: where its value comes from and how it earns points."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Identifier
    name_zh: str
    name_en: str
    class_id: Identifier = Field(alias="class")
    part: Identifier = "core"
    unit: str
    source: Source
    direction: Direction
    scoring: ScoringRule
    max_points: Annotated[float, Field(gt=0)]
    weights: dict[str, Weight]
    confirmed: bool
    source_note: str

    @model_validator(mode="after")
    def _scoring_fits(self) -> "Indicator":
        self.scoring.check_direction(self.direction)
        top = max(self.scoring.points)
        if not math.isclose(top, self.max_points, abs_tol=_TOLERANCE):
            raise ValueError(
                f"scoring.points must top out at max_points {self.max_points}; got {top}"
            )
        return self

    def weight(self, stage: str) -> float:
        """Points this indicator is worth in ``stage`` at full raw points."""
        return self.weights[stage]


class Catalogue(_Frozen):
    """A complete, versioned catalogue (extensions are already merged into their parent)."""

    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    effective_from: date
    description: str
    lineage: list[str] = Field(default_factory=list)
    classes: Annotated[list[IndicatorClass], Field(min_length=1)]
    parts: dict[str, Part] = Field(default_factory=lambda: {"core": Part(total=100.0)})
    total_cap: Annotated[float, Field(gt=0)] | None = None
    stages: Annotated[list[Stage], Field(min_length=1)]
    stage_rules: StageRules
    missing_policy: MissingPolicy = MissingPolicy()
    whitelist: WhitelistRule = WhitelistRule()
    indicators: Annotated[list[Indicator], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _expand_scalar_weights(cls, data: Any) -> Any:
        """Let YAML give one number for ``weights`` when every stage weighs the same."""
        if not isinstance(data, dict):
            return data
        stages, indicators = data.get("stages"), data.get("indicators")
        if not (isinstance(stages, list) and isinstance(indicators, list)):
            return data
        ids = [s.get("id") if isinstance(s, dict) else getattr(s, "id", None) for s in stages]
        expanded = []
        for ind in indicators:
            if isinstance(ind, dict) and isinstance(ind.get("weights"), int | float):
                ind = {**ind, "weights": dict.fromkeys(ids, ind["weights"])}
            expanded.append(ind)
        return {**data, "indicators": expanded}

    @model_validator(mode="after")
    def _consistent(self) -> "Catalogue":
        for kind, ids in (
            ("class", [c.id for c in self.classes]),
            ("stage", [s.id for s in self.stages]),
            ("indicator", [i.id for i in self.indicators]),
        ):
            repeated = sorted(k for k, n in Counter(ids).items() if n > 1)
            if repeated:
                raise ValueError(f"duplicate {kind} ids: {repeated}")
        self._check_references()
        self._check_stage_rules()
        self._check_weight_sums()
        return self

    def _check_references(self) -> None:
        classes, stages = self.class_ids(), self.stage_ids()
        for ind in self.indicators:
            if ind.class_id not in classes:
                raise ValueError(f"indicator {ind.id}: class {ind.class_id!r} not in {classes}")
            if ind.part not in self.parts:
                raise ValueError(f"indicator {ind.id}: part {ind.part!r} not in {list(self.parts)}")
            if set(ind.weights) != set(stages):
                raise ValueError(
                    f"indicator {ind.id}: weights must name exactly the stages {stages}; "
                    f"got {sorted(ind.weights)}"
                )

        for cls in self.classes:
            count = sum(1 for i in self.indicators if i.class_id == cls.id)
            if cls.expected_indicators is not None and count != cls.expected_indicators:
                raise ValueError(
                    f"class {cls.id}: expected_indicators is {cls.expected_indicators}; "
                    f"got {count} indicators"
                )

    def _check_stage_rules(self) -> None:
        stages = self.stage_ids()
        named = [r.stage for r in self.stage_rules.rules] + [self.stage_rules.default]
        for stage in named:
            if stage not in stages:
                raise ValueError(f"stage_rules: stage {stage!r} not in {stages}")

    def _check_weight_sums(self) -> None:
        for stage in self.stage_ids():
            for part_id, part in self.parts.items():
                members = [i for i in self.indicators if i.part == part_id]
                total = sum(i.weight(stage) for i in members)
                if not math.isclose(total, part.total, abs_tol=1e-4):
                    raise ValueError(
                        f"weights.{stage} of part {part_id!r} must sum to its declared total "
                        f"{part.total}; got {round(total, 6)} over "
                        f"{[i.id for i in members]}"
                    )

    def class_ids(self) -> list[str]:
        """Class ids in declaration order."""
        return [c.id for c in self.classes]

    def stage_ids(self) -> list[str]:
        """Stage ids in declaration order."""
        return [s.id for s in self.stages]

    @property
    def max_total(self) -> float:
        """Most points a firm can reach: the sum of part totals, capped by ``total_cap``."""
        total = sum(p.total for p in self.parts.values())
        return min(total, self.total_cap) if self.total_cap is not None else total

    def indicator(self, indicator_id: str) -> Indicator:
        """Return the indicator with this id; raise ``KeyError`` when there is none."""
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise KeyError(indicator_id)
