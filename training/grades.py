"""Master scale: PD → grade, from versioned YAML (``training/config/master_scale.yaml``).

Grade *i* holds PDs in (upper of grade *i−1*, upper of grade *i*]; the first grade starts
at 0 and the last must end at 1, so every PD has exactly one grade.
"""

import itertools
from pathlib import Path
from typing import Any, Self

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.config import embedded_text
from training.errors import TrainingConfigError

DEFAULT_SCALE = "master_scale.yaml"


class Grade(BaseModel):
    """One grade and the highest PD it holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grade: str = Field(min_length=1, max_length=8)
    upper_pd: float = Field(gt=0, le=1)


class MasterScale(BaseModel):
    """An ordered list of grades with increasing PD bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale_version: str = Field(min_length=1)
    grades: tuple[Grade, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        uppers = [g.upper_pd for g in self.grades]
        for prev, cur in itertools.pairwise(uppers):
            if not prev < cur:
                raise ValueError(f"grade upper_pd must increase; got {prev} then {cur}")
        if uppers[-1] != 1.0:
            raise ValueError(f"the last grade's upper_pd must be 1.0; got {uppers[-1]}")
        names = [g.grade for g in self.grades]
        if len(set(names)) != len(names):
            raise ValueError(f"grade names must be unique; got {names}")
        return self

    @property
    def names(self) -> list[str]:
        """Grade names from best to worst."""
        return [g.grade for g in self.grades]

    def bounds(self) -> list[tuple[str, float, float]]:
        """(grade, lower PD exclusive, upper PD inclusive) for every grade."""
        lowers = [0.0, *[g.upper_pd for g in self.grades[:-1]]]
        return [(g.grade, lo, g.upper_pd) for g, lo in zip(self.grades, lowers, strict=True)]

    def index_of(self, pd_: np.ndarray) -> np.ndarray:
        """Index (0 = best) of the grade of each PD."""
        uppers = np.array([g.upper_pd for g in self.grades])
        return np.searchsorted(uppers, np.asarray(pd_, dtype=np.float64), side="left").clip(
            0, len(uppers) - 1
        )

    def grade_of(self, pd_: np.ndarray) -> np.ndarray:
        """Return the grade name of each PD."""
        names: np.ndarray = np.array(self.names, dtype=object)[self.index_of(pd_)]
        return names

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping, as in the YAML file."""
        return self.model_dump(mode="json")


def load_master_scale(path: Path | None = None) -> MasterScale:
    """Load the master scale from ``path``, or the embedded default.

    Raises:
        TrainingConfigError: the file is missing or breaks a rule; the message names it.

    """
    if path is not None and not path.is_file():
        raise TrainingConfigError(f"master scale {path} does not exist")
    text = path.read_text(encoding="utf-8") if path else embedded_text(DEFAULT_SCALE)
    try:
        return MasterScale.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "scale"
        raise TrainingConfigError(
            f"master scale {path or DEFAULT_SCALE}: {where}: {err['msg']}"
        ) from exc
