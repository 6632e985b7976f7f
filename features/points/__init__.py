"""The innovation-points engine: point-in-time scoring of firms with a versioned catalogue.

Public names are resolved on first use, so importing the package (as the ``jifen`` CLI
does to register its command) does not load pandas.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.points.engine import PointsResult, compute_points, score_population
    from features.points.io import score_points_from_layout, write_points
    from features.points.pairs import compute_points_for_pairs

_EXPORTS = {
    "PointsResult": "features.points.engine",
    "compute_points": "features.points.engine",
    "score_population": "features.points.engine",
    "compute_points_for_pairs": "features.points.pairs",
    "score_points_from_layout": "features.points.io",
    "write_points": "features.points.io",
}

__all__ = [
    "PointsResult",
    "compute_points",
    "compute_points_for_pairs",
    "score_points_from_layout",
    "score_population",
    "write_points",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
