"""The seam where the model bundle plugs in.

``training/`` is building the bundle (ONNX model, LightGBM text for TreeSHAP, calibrator,
blend, SHA-256 manifest). Until ``load_model`` reads it, the service starts with an empty
slot: ``/ready`` answers 503 with the reason and ``/v1/score`` answers 503. Filling the
seam means: implement ``ScoringModel`` over the bundle, return it from ``load_model``
after checking the manifest, and call it from the score route.
"""

from dataclasses import dataclass
from typing import Protocol

from serving.core.config import ServingSettings
from serving.errors import ModelNotReadyError


class ScoringModel(Protocol):
    """What the score route needs from a loaded bundle (to be completed with the bundle)."""

    @property
    def model_version(self) -> str:
        """Registry name and version of the model, as written into audit records."""
        ...

    @property
    def catalogue_version(self) -> str:
        """Indicator catalogue version the points side was computed with."""
        ...


@dataclass(frozen=True)
class ModelSlot:
    """The loaded model, or why there is none."""

    model: ScoringModel | None
    problem: str | None = None

    def require(self) -> ScoringModel:
        """Return the model; ModelNotReadyError with the reason if none is loaded."""
        if self.model is None:
            raise ModelNotReadyError(f"no model loaded: {self.problem or 'unknown reason'}")
        return self.model


def load_model(settings: ServingSettings) -> ModelSlot:
    """Load the bundle named by the settings (the seam: not wired to training/ yet)."""
    return ModelSlot(
        None,
        f"model loading is not implemented yet (bundle_dir={settings.bundle_dir}, "
        f"alias={settings.model_alias!r})",
    )
