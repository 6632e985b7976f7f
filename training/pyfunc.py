"""MLflow pyfunc flavour of a bundle, so ``mlflow models serve`` can serve it as a peer.

The logged model carries the bundle as an artifact; loading verifies its checksums and
scores with the same ONNX chain as serving. Input: a frame of application features (and
the points column when the model blends); output: PD, model PD and grade per row.
"""

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

BUNDLE_ARTIFACT = "bundle"
OUTPUT_COLUMNS = ["pd", "pd_model", "pd_points_only", "grade"]


class BundleModel(PythonModel):
    """Score applications with a verified Jifen bundle."""

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the loaded scorer (an ONNX session cannot be pickled)."""
        return {k: v for k, v in self.__dict__.items() if k != "_scorer"}

    def load_context(self, context: PythonModelContext) -> None:
        """Verify and load the bundle shipped as the ``bundle`` artifact."""
        from training.bundle import load_bundle  # deferred: keeps unpickling light

        self._scorer = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT])).scorer()

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Return PD, model PD, points-only PD and grade for each input row."""
        return self._scorer.score(model_input)[OUTPUT_COLUMNS].reset_index(drop=True)
