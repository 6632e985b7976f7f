"""Reasons: the largest lines of the exact explanation, written in Chinese and English.

Texts come from ``serving/config/reasons.yaml`` (templates) and the feature definitions
(each feature's description in both languages and its declared risk direction). A
feature without a definition is named by its column name.
"""

import math
from collections.abc import Mapping
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from features.definitions.model import FeatureDefinition, FeatureSet, Monotone
from serving.responses import ReasonDirection

ReasonJson = dict[str, JsonValue]
"""A ``serving.responses.Reason`` as JSON (built as a dict: no model per line)."""

_SIGNIFICANT: Final = 4
_RAISES: Final = ReasonDirection.RAISES.value
_LOWERS: Final = ReasonDirection.LOWERS.value


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
    """Turns explanation lines into reasons (``Reason`` as JSON) in both languages."""

    def __init__(self, texts: ReasonTexts, feature_set: FeatureSet) -> None:
        self.texts = texts
        self.feature_set = feature_set
        self._definitions: dict[str, FeatureDefinition] = {f.name: f for f in feature_set.features}
        self._none = Bilingual(zh="", en="")
        # Per feature: its names and the note on its declared direction, built once.
        self._named: dict[str, tuple[Bilingual, Bilingual]] = {
            name: (
                Bilingual(zh=d.description_zh, en=d.description_en),
                texts.direction_notes.get(d.monotone, self._none),
            )
            for name, d in self._definitions.items()
        }

    def _values(self, value: object) -> tuple[str, str]:
        """Write the value in Chinese and in English."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            key = "missing"
        elif isinstance(value, bool):
            key = "true" if value else "false"
        elif isinstance(value, int | float):
            text = _number(float(value))
            return text, text
        else:
            text = str(value)
            return text, text
        words = self.texts.values[key]
        return words.zh, words.en

    def _names(self, feature: str) -> tuple[Bilingual, Bilingual]:
        found = self._named.get(feature)
        if found is None:
            note = self.texts.direction_notes.get(Monotone.NONE, self._none)
            found = (Bilingual(zh=feature, en=feature), note)
        return found

    def _sentence(
        self, feature: str, value_text: tuple[str, str], shap: float, name: Bilingual | None
    ) -> tuple[str, str]:
        names, note = self._names(feature)
        names = name or names
        template = self.texts.templates.raises if shap > 0 else self.texts.templates.lowers
        zh = template.zh.format(name=names.zh, value=value_text[0], shap=shap, note=note.zh)
        en = template.en.format(name=names.en, value=value_text[1], shap=shap, note=note.en)
        return zh, en

    @staticmethod
    def _line(feature: str, value: JsonValue, shap: float, texts: tuple[str, str]) -> ReasonJson:
        return {
            "feature": feature,
            "value": value,
            "shap": shap,
            "direction": _RAISES if shap > 0 else _LOWERS,
            "text_zh": texts[0],
            "text_en": texts[1],
        }

    def reason(self, feature: str, value: object, shap: float) -> ReasonJson:
        """One feature's line as a reason."""
        texts = self._sentence(feature, self._values(value), shap, None)
        shown = value if isinstance(value, str | int | float | bool) else None
        return self._line(feature, shown, shap, texts)

    def points_reason(
        self, column: str, value: float | None, fill: float, shap: float
    ) -> ReasonJson:
        """Write the innovation points' own line as a reason (saying when the fill was used)."""
        if value is None:
            texts = self.texts.points.filled
            shown = (texts.zh.format(fill=fill), texts.en.format(fill=fill))
        else:
            shown = (_number(value), _number(value))
        sentences = self._sentence(column, shown, shap, self.texts.points.name)
        return self._line(column, value, shap, sentences)

    def top(
        self,
        names: tuple[str, ...],
        values: Mapping[str, object],
        contributions: np.ndarray,
        points: tuple[str, float | None, float, float] | None,
        per_direction: int,
    ) -> tuple[list[ReasonJson], list[ReasonJson]]:
        """Return the largest contributions on each side: (raising the risk, lowering it).

        Args:
            names: model features, in the order of ``contributions``.
            values: the raw values the model read, by feature.
            contributions: one row of contributions to the score's logit.
            points: (column, value or None, fill, contribution) of the points line.
            per_direction: reasons kept on each side.

        """
        # tolist: one conversion of the row, not a NumPy scalar per feature.
        row: list[float] = contributions.tolist()
        lines: list[tuple[float, str, bool]] = [
            (c, n, False) for n, c in zip(names, row, strict=True) if c != 0.0
        ]
        if points is not None and points[3] != 0.0:
            lines.append((points[3], points[0], True))
        raising = sorted((x for x in lines if x[0] > 0), key=lambda x: (-x[0], x[1]))
        lowering = sorted((x for x in lines if x[0] < 0), key=lambda x: (x[0], x[1]))

        def build(shap: float, feature: str, is_points: bool) -> ReasonJson:
            if is_points and points is not None:
                return self.points_reason(points[0], points[1], points[2], shap)
            return self.reason(feature, values.get(feature), shap)

        return (
            [build(*line) for line in raising[:per_direction]],
            [build(*line) for line in lowering[:per_direction]],
        )
