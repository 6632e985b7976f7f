"""Errors of the serving stage. The API maps each one to an HTTP status in one place."""

from jifen.errors import ConfigError, DataContractError, JifenError, NotFoundError

__all__ = [
    "AuditIntegrityError",
    "AuditWriteError",
    "AuthenticationError",
    "BodyTooLargeError",
    "BundleRejectedError",
    "ConfigError",
    "DecisionNotFoundError",
    "FeatureStoreUnavailableError",
    "FeaturesIncompleteError",
    "FirmNotFoundError",
    "KeyNotFoundError",
    "MalformedBodyError",
    "ModelNotReadyError",
    "ModelVersionNotFoundError",
    "PermissionDeniedError",
    "ReloadIncompleteError",
    "StoreUnavailableError",
    "UnsupportedMediaTypeError",
]


class AuditWriteError(JifenError, OSError):
    """A decision record was not committed to the audit log; the decision must not be returned."""


class AuditIntegrityError(JifenError, ValueError):
    """The audit chain failed verification (a record was altered, removed or reordered)."""


class StoreUnavailableError(JifenError, OSError):
    """The audit or key database cannot be opened or read."""


class DecisionNotFoundError(NotFoundError):
    """No decision with this id is in the audit log."""


class KeyNotFoundError(NotFoundError):
    """No API key with this key id exists."""


class AuthenticationError(JifenError, PermissionError):
    """The request carries no API key, or one that is malformed, unknown or revoked."""


class PermissionDeniedError(JifenError, PermissionError):
    """The API key is valid but its role may not use this endpoint."""


class ModelNotReadyError(JifenError, RuntimeError):
    """No model bundle is loaded, so nothing can be scored yet."""


class FirmNotFoundError(NotFoundError):
    """The feature store holds no vector for this enterprise and no inline features came."""


class FeatureStoreUnavailableError(JifenError, OSError):
    """The online feature store cannot be read: no score is given on default values."""


class FeaturesIncompleteError(DataContractError):
    """Inline features are not allowed, or the model lacks an input nobody supplied."""

    def __init__(self, message: str, *, field: tuple[str, ...] = ("inline_features",)) -> None:
        super().__init__(message)
        self.field = field
        """Where in the request body the problem is (the 422's ``loc``)."""


class BundleRejectedError(JifenError, ValueError):
    """A model bundle failed its checks (checksum, format, self-test); it is not served."""


class ModelVersionNotFoundError(NotFoundError):
    """A model version named by a decision or a request is not available to load."""


class ReloadIncompleteError(JifenError, RuntimeError):
    """A reload did not reach every worker in time (none switched, or some did not confirm)."""


class RequestBodyError(JifenError, ValueError):
    """A request body broke one of the configured limits before it was parsed."""


class BodyTooLargeError(RequestBodyError):
    """The body is larger than ``max_body_bytes`` (it is not read past the limit)."""


class UnsupportedMediaTypeError(RequestBodyError):
    """A body was sent with a content type other than JSON (in UTF-8)."""


class MalformedBodyError(RequestBodyError):
    """The body is not UTF-8, nests too deep or holds a number with too many digits."""
