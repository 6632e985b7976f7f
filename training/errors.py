"""Errors of the training stage, subclassing the project's hierarchy in ``jifen.errors``.

Messages name the field, the value and the rule broken, so that a data scientist can fix a
spec or a dataset from the message alone.
"""

from jifen.errors import ConfigError, DataContractError, JifenError, NotFoundError


class SpecError(ConfigError):
    """A dataset spec is malformed, or does not fit the dataset it describes."""


class TrainingConfigError(ConfigError):
    """The training configuration (tuning, split, calibration, master scale) is invalid."""


class DatasetError(DataContractError):
    """A training dataset cannot be read or split as the spec requires."""


class TrainingError(JifenError, RuntimeError):
    """Training could not produce a usable model (e.g. an anti-predictive calibrator)."""


class ExportParityError(TrainingError):
    """The ONNX export does not reproduce the LightGBM model within tolerance."""


class BundleIntegrityError(JifenError, ValueError):
    """A model bundle is incomplete or a file does not match its recorded checksum."""


class TrackingError(JifenError, RuntimeError):
    """The tracking server or store failed (unreachable database, rejected write)."""


class RegistryError(NotFoundError):
    """A registered model, version or alias needed by a registry command is missing."""
