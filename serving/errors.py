"""Errors of the serving stage. The API maps each one to an HTTP status in one place."""

from jifen.errors import ConfigError, JifenError, NotFoundError

__all__ = [
    "AuditIntegrityError",
    "AuditWriteError",
    "AuthenticationError",
    "ConfigError",
    "DecisionNotFoundError",
    "KeyNotFoundError",
    "ModelNotReadyError",
    "PermissionDeniedError",
    "StoreUnavailableError",
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
