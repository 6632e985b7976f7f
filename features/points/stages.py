"""Assign each firm its development stage from the catalogue's stage rules."""

import operator
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.catalogue import StageRules

_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def assign_stages(frame: pd.DataFrame, rules: StageRules) -> np.ndarray:
    """Stage id per row of ``frame``: the first matching rule, else the default.

    A fact that is missing (no filing, empty revenue) makes its condition false, so a
    firm without a filing is judged on its age alone.
    """
    stage = np.full(len(frame), rules.default, dtype=object)
    decided = np.zeros(len(frame), dtype=bool)
    for rule in rules.rules:
        tests = []
        for cond in rule.conditions:
            values = frame[cond.field].to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                tests.append(_OPS[cond.op](values, cond.value) & ~np.isnan(values))
        matched = (
            np.logical_or.reduce(tests) if rule.match == "any" else np.logical_and.reduce(tests)
        )
        take = matched & ~decided
        stage[take] = rule.stage
        decided |= take
    return stage
