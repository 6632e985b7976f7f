"""Where an indicator's value comes from: one column, or a declared derivation of columns.

Every variant names the raw columns it reads, so the catalogue can be checked against
the table contracts before anything is scored, and the points engine can put the
inputs of every value in its trace.
"""

from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.contracts.tables import ENTERPRISES, EVENT_TYPES, INNOVATION_FILINGS

_FILING_KEYS = frozenset({"filing_id", "credit_code", "fiscal_year", "revision", "filing_date"})


@cache
def filing_value_columns() -> frozenset[str]:
    """Columns of ``innovation_filings`` that carry a firm's values (not its keys)."""
    return frozenset(INNOVATION_FILINGS.schema.columns) - _FILING_KEYS


@cache
def qualification_columns() -> frozenset[str]:
    """Date columns of ``enterprises`` that record a qualification (high-tech, SRDI, ...)."""
    return frozenset(c for c in ENTERPRISES.schema.columns if c.endswith("_cert_date")) | {
        "little_giant_date"
    }


def _check_filing_column(column: str) -> str:
    known = filing_value_columns()
    if column not in known:
        raise ValueError(
            f"unknown column {column!r}; innovation_filings value columns are {sorted(known)}"
        )
    return column


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def input_columns(self) -> tuple[str, ...]:
        """Raw columns this source reads, in the order the trace reports them."""
        raise NotImplementedError


class ColumnSource(_Source):
    """The value of one filing column, as filed."""

    kind: Literal["column"]
    column: str

    _known = field_validator("column")(_check_filing_column)

    def input_columns(self) -> tuple[str, ...]:
        """Return the one column read."""
        return (self.column,)


class RatioSource(_Source):
    """``scale * numerator / denominator`` of one filing; missing when the denominator is <= 0."""

    kind: Literal["ratio"]
    numerator: str
    denominator: str
    scale: Annotated[float, Field(gt=0)] = 100.0

    _known = field_validator("numerator", "denominator")(_check_filing_column)

    def input_columns(self) -> tuple[str, ...]:
        """Return the numerator, then the denominator."""
        return (self.numerator, self.denominator)


class GrowthSource(_Source):
    """Year-over-year growth in percent: ``100 * (current - prior) / prior``.

    The prior year is the fiscal year before the current one, chosen point-in-time like
    the current filing. Missing when there is no prior filing or the prior value is <= 0
    (growth from nothing has no meaningful rate).
    """

    kind: Literal["growth"]
    column: str

    _known = field_validator("column")(_check_filing_column)

    def input_columns(self) -> tuple[str, ...]:
        """Return the column, read in the current and the prior filing."""
        return (self.column,)


class SumSource(_Source):
    """A weighted sum of filing columns; missing only when every column is missing."""

    kind: Literal["sum"]
    columns: Annotated[list[str], Field(min_length=1)]
    coefficients: list[Annotated[float, Field(gt=0)]] | None = None

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, columns: list[str]) -> list[str]:
        for column in columns:
            _check_filing_column(column)
        if len(set(columns)) != len(columns):
            raise ValueError(f"columns must not repeat; got {columns}")
        return columns

    def weights(self) -> list[float]:
        """Return the coefficient per column (1 for each when none are declared)."""
        return self.coefficients if self.coefficients is not None else [1.0] * len(self.columns)

    def input_columns(self) -> tuple[str, ...]:
        """Return the summed columns."""
        return tuple(self.columns)


class FlagSource(_Source):
    """How many of the listed qualifications the firm held on the as-of date.

    A qualification counts when its date in ``enterprises`` is on or before as_of;
    an empty date means never qualified (0, not missing).
    """

    kind: Literal["flag"]
    qualifications: Annotated[list[str], Field(min_length=1)]

    @field_validator("qualifications")
    @classmethod
    def _known_dates(cls, columns: list[str]) -> list[str]:
        known = qualification_columns()
        for column in columns:
            if column not in known:
                raise ValueError(
                    f"unknown column {column!r}; enterprises qualification dates are "
                    f"{sorted(known)}"
                )
        return columns

    def input_columns(self) -> tuple[str, ...]:
        """Return the qualification date columns."""
        return tuple(self.qualifications)


class EventCountSource(_Source):
    """Adverse credit events published within ``lookback_years`` before as_of.

    With ``repair_clears`` an event published before the firm's latest credit repair
    (itself published on or before as_of) no longer counts: the firm has corrected it.
    No events is 0, never missing.
    """

    kind: Literal["event_count"]
    event_types: Annotated[list[str], Field(min_length=1)]
    lookback_years: Annotated[float, Field(gt=0)] = 3.0
    repair_clears: bool = True

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        adverse = [t for t in EVENT_TYPES if t != "credit_repair"]
        for event_type in types:
            if event_type not in adverse:
                raise ValueError(f"unknown event type {event_type!r}; adverse types are {adverse}")
        return types

    def input_columns(self) -> tuple[str, ...]:
        """Return the counted event types (rows of ``credit_events``)."""
        return tuple(self.event_types)


Source = Annotated[
    ColumnSource | RatioSource | GrowthSource | SumSource | FlagSource | EventCountSource,
    Field(discriminator="kind"),
]
"""Any indicator source, chosen by its ``kind``."""
