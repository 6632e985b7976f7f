"""Errors of monitoring, in the project's hierarchy (``jifen.errors``)."""

from jifen.errors import DataContractError, NotFoundError


class ReferenceMissingError(NotFoundError):
    """The model's bundle holds no training reference distributions (``reference.json``)."""


class OutcomesFileError(DataContractError):
    """The outcomes file cannot be read, or lacks the columns that join it to decisions."""
