"""Reasons: the largest lines of the exact explanation, written in Chinese and English.

Texts come from ``serving/config/reasons.yaml`` (templates) and the feature definitions
(each feature's description in both languages and its declared risk direction). A
feature without a definition is named by its column name.
"""

import math
from collections.abc import Mapping
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from features.definitions.model import FeatureDefinition, FeatureSet, Monotone
from serving.responses import Reason, ReasonDirection

_SIGNIFICANT: Final = 4


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Frozen):
    """A text in Chinese and English."""

    zh: str
    en: str


class Templates(_Frozen):
    """Sentence templates for a contribution that raises or lowers the risk."""

    raises: Bilingual
    lowers: Bilingual


class PointsTexts(_Frozen):
    """How the innovation points' own line is named."""

    name: Bilingual
    filled: Bilingual


class ReasonTexts(_Frozen):
    """The reason texts file."""

    reasons_version: str = Field(min_length=1)
    templates: Templates
    direction_notes: dict[Monotone, Bilingual]
    values: dict[str, Bilingual]
    points: PointsTexts


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{_SIGNIFICANT}g}"


class ReasonWriter:
    """Turns explanation lines into ``Reason`` objects with sentences in both languages."""

    def __init__(self, texts: ReasonTexts, feature_set: FeatureSet) -> None:
        self.texts = texts
        self.feature_set = feature_set
        self._definitions: dict[str, FeatureDefinition] = {f.name: f for f in feature_set.features}

    def _value(self, value: object, lang: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            key = "missing"
        elif isinstance(value, bool):
            key = "true" if value else "false"
        elif isinstance(value, int | float):
            return _number(float(value))
        else:
            return str(value)
        text: str = getattr(self.texts.values[key], lang)
        return text

    def _sentence(
        self, feature: str, value_text: tuple[str, str], shap: float, name: Bilingual | None
    ) -> tuple[str, str]:
        definition = self._definitions.get(feature)
        direction = definition.monotone if definition else Monotone.NONE
        note = self.texts.direction_notes.get(direction, Bilingual(zh="", en=""))
        names = name or (
            Bilingual(zh=definition.description_zh, en=definition.description_en)
            if definition
            else Bilingual(zh=feature, en=feature)
        )
        template = self.texts.templates.raises if shap > 0 else self.texts.templates.lowers
        zh = template.zh.format(name=names.zh, value=value_text[0], shap=shap, note=note.zh)
        en = template.en.format(name=names.en, value=value_text[1], shap=shap, note=note.en)
        return zh, en

    def reason(self, feature: str, value: object, shap: float) -> Reason:
        """One feature's line as a reason."""
        zh, en = self._sentence(
            feature, (self._value(value, "zh"), self._value(value, "en")), shap, None
        )
        return Reason.model_construct(
            feature=feature,
            value=value if isinstance(value, str | int | float | bool) else None,
            shap=shap,
            direction=ReasonDirection.RAISES if shap > 0 else ReasonDirection.LOWERS,
            text_zh=zh,
            text_en=en,
        )

    def points_reason(self, column: str, value: float | None, fill: float, shap: float) -> Reason:
        """Write the innovation points' own line as a reason (saying when the fill was used)."""
        if value is None:
            texts = self.texts.points.filled
            shown = (texts.zh.format(fill=fill), texts.en.format(fill=fill))
        else:
            shown = (_number(value), _number(value))
        zh, en = self._sentence(column, shown, shap, self.texts.points.name)
        return Reason.model_construct(
            feature=column,
            value=value,
            shap=shap,
            direction=ReasonDirection.RAISES if shap > 0 else ReasonDirection.LOWERS,
            text_zh=zh,
            text_en=en,
        )

    def top(
        self,
        names: tuple[str, ...],
        values: Mapping[str, object],
        contributions: np.ndarray,
        points: tuple[str, float | None, float, float] | None,
        per_direction: int,
    ) -> tuple[list[Reason], list[Reason]]:
        """Return the largest contributions on each side: (raising the risk, lowering it).

        Args:
            names: model features, in the order of ``contributions``.
            values: the raw values the model read, by feature.
            contributions: one row of contributions to the score's logit.
            points: (column, value or None, fill, contribution) of the points line.
            per_direction: reasons kept on each side.

        """
        lines: list[tuple[float, str, bool]] = [
            (float(c), n, False) for n, c in zip(names, contributions, strict=True) if c != 0.0
        ]
        if points is not None and points[3] != 0.0:
            lines.append((points[3], points[0], True))
        raising = sorted((x for x in lines if x[0] > 0), key=lambda x: (-x[0], x[1]))
        lowering = sorted((x for x in lines if x[0] < 0), key=lambda x: (x[0], x[1]))

        def build(shap: float, feature: str, is_points: bool) -> Reason:
            if is_points and points is not None:
                return self.points_reason(points[0], points[1], points[2], shap)
            return self.reason(feature, values.get(feature), shap)

        return (
            [build(*line) for line in raising[:per_direction]],
            [build(*line) for line in lowering[:per_direction]],
        )
