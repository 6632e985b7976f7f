"""Prepare the raw tables once, then take point-in-time slices of them per as-of date.

Point-in-time rule for filings: on ``as_of`` a filing is known if ``filing_date <= as_of``.
Among the known filings of a firm and fiscal year, the highest ``revision`` wins (ties go
to the later ``filing_date``, then to the later row). The firm's *current* filing is the
winner of its latest known fiscal year; its *prior* filing is the known winner of the
fiscal year just before (used for growth rates). A revision published after ``as_of``
therefore never replaces what was known on ``as_of``.

Filings are keyed by integer firm positions (rows of ``enterprises``) and sorted once, so
each as-of slice is a handful of numpy operations, not a sort or a merge.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import Catalogue, FlagSource
from features.catalogue.sources import qualification_columns
from jifen.errors import DataContractError

FILING_KEYS = ("filing_id", "credit_code", "fiscal_year", "revision", "filing_date")
STAGE_FILING_COLUMNS = ("revenue_wan", "staff_total")
ENTERPRISE_COLUMNS = ("credit_code", "zone_id", "industry", "founding_date")
EVENT_COLUMNS = ("credit_code", "event_type", "published_date")
PRIOR = "prior__"
"""Prefix of the prior-year filing's columns in the firm frame."""
HAS_FILING = "has_filing"
"""Firm-frame flag: the firm has a current filing (``prior__has_filing``: a prior one)."""


@dataclass(frozen=True)
class PointsInputs:
    """The three tables, reduced to the columns a catalogue needs, typed and sorted.

    Build it once with ``prepare_inputs`` and score it at as many dates as needed.
    """

    enterprises: pd.DataFrame
    filings: pd.DataFrame
    """Sorted by (firm, fiscal year, revision, filing date); ``firm`` is an enterprises row."""
    credit_events: pd.DataFrame
    value_columns: tuple[str, ...]
    unknown_firm_filings: int
    """Filings whose credit code is not in ``enterprises`` (left out: no zone, no industry)."""


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"table {table}: columns {missing} are required by the points engine; "
            f"got {sorted(frame.columns)}"
        )


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).astype("datetime64[ns]")


def catalogue_columns(catalogue: Catalogue) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Filing value columns and enterprise qualification dates a catalogue reads."""
    values: dict[str, None] = dict.fromkeys(STAGE_FILING_COLUMNS)
    dates: dict[str, None] = {}
    for ind in catalogue.indicators:
        if isinstance(ind.source, FlagSource):
            dates.update(dict.fromkeys(ind.source.qualifications))
        elif ind.source.kind != "event_count":
            values.update(dict.fromkeys(ind.source.input_columns()))
    return tuple(values), tuple(dates)


def _prepare_enterprises(enterprises: pd.DataFrame, dates: tuple[str, ...]) -> pd.DataFrame:
    firms = enterprises[list(ENTERPRISE_COLUMNS + dates)].reset_index(drop=True)
    repeated = firms["credit_code"][firms["credit_code"].duplicated()].unique()
    if len(repeated):
        raise DataContractError(
            f"table enterprises: credit_code must be unique; got {len(repeated)} repeated, "
            f"e.g. {list(repeated[:3])}"
        )
    typed: dict[str, pd.Series | np.ndarray] = {
        c: _dates(firms[c]) for c in ("founding_date", *dates)
    }
    # Integer codes of the peer keys: grouping on them is far faster than on strings.
    typed |= {
        group_code_column(c): pd.factorize(firms[c], use_na_sentinel=False)[0]
        for c in ("zone_id", "industry")
    }
    return firms.assign(**typed)


def group_code_column(key: str) -> str:
    """Name of the integer-code column of a peer key (``zone_id``, ``industry``)."""
    return f"_code_{key}"


def group_codes(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """One integer per distinct combination of ``keys`` (0 for all rows when no keys)."""
    combined = np.zeros(len(frame), dtype="int64")
    for key in keys:
        codes = frame[group_code_column(key)].to_numpy(dtype="int64")
        combined = combined * (int(codes.max(initial=0)) + 1) + codes
    return combined


def prepare_inputs(
    filings: pd.DataFrame,
    enterprises: pd.DataFrame,
    credit_events: pd.DataFrame,
    catalogue: Catalogue,
) -> PointsInputs:
    """Check, trim, type and sort the tables for scoring with ``catalogue``.

    Raises:
        DataContractError: A table lacks a column the catalogue or the engine needs, or
            ``enterprises`` repeats a credit code.

    """
    value_columns, date_columns = catalogue_columns(catalogue)
    _require(filings, "innovation_filings", FILING_KEYS + value_columns)
    _require(enterprises, "enterprises", ENTERPRISE_COLUMNS + date_columns)
    _require(credit_events, "credit_events", EVENT_COLUMNS)
    firms = _prepare_enterprises(enterprises, date_columns)

    firm = pd.Index(firms["credit_code"]).get_indexer(filings["credit_code"])
    known = np.flatnonzero(firm >= 0)
    arrays: dict[str, np.ndarray] = {
        "firm": firm[known],
        "filing_id": filings["filing_id"].to_numpy(dtype=object)[known],
        "fiscal_year": filings["fiscal_year"].to_numpy(dtype="int64")[known],
        "revision": filings["revision"].to_numpy(dtype="int64")[known],
        "filing_date": _dates(filings["filing_date"]).to_numpy()[known],
    }
    order = np.lexsort(
        (arrays["filing_date"], arrays["revision"], arrays["fiscal_year"], arrays["firm"])
    )
    rows = known[order]
    arrays = {name: values[order] for name, values in arrays.items()}
    for column in value_columns:
        values = pd.to_numeric(filings[column]).to_numpy(dtype="float64", na_value=np.nan)
        arrays[column] = values[rows]
    kept = pd.DataFrame(arrays, copy=False)

    events = credit_events[list(EVENT_COLUMNS)].assign(
        published_date=_dates(credit_events["published_date"])
    )
    return PointsInputs(firms, kept, events, value_columns, len(filings) - len(known))


def known_filings(inputs: PointsInputs, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Row of each firm's current and prior filing known on ``as_of`` (-1 when none).

    Returns two arrays indexed by enterprises row, holding rows of ``inputs.filings``.
    """
    filings = inputs.filings
    published = np.flatnonzero(filings["filing_date"].to_numpy() <= as_of.to_datetime64())
    firm = filings["firm"].to_numpy()[published]
    year = filings["fiscal_year"].to_numpy()[published]
    # Sorted by (firm, year, revision, date): the last row of each (firm, year) run wins.
    last_of_year = np.ones(len(published), dtype=bool)
    last_of_year[:-1] = (firm[1:] != firm[:-1]) | (year[1:] != year[:-1])
    winners, firm, year = published[last_of_year], firm[last_of_year], year[last_of_year]
    last_of_firm = np.ones(len(winners), dtype=bool)
    last_of_firm[:-1] = firm[1:] != firm[:-1]
    n_firms = len(inputs.enterprises)
    current = np.full(n_firms, -1, dtype="int64")
    current[firm[last_of_firm]] = winners[last_of_firm]
    # The prior year's winner, if any, is the run just before the current one.
    before = np.flatnonzero(last_of_firm) - 1
    ok = before >= 0
    ok[ok] = (firm[before[ok]] == firm[last_of_firm][ok]) & (
        year[before[ok]] == year[last_of_firm][ok] - 1
    )
    prior = np.full(n_firms, -1, dtype="int64")
    prior[firm[last_of_firm][ok]] = winners[before[ok]]
    return current, prior


def _take(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Values of ``column`` at ``rows``; missing (NaN or None) where the row is -1."""
    values = column.to_numpy()
    out = values[np.where(rows >= 0, rows, 0)] if len(values) else np.empty(len(rows))
    if out.dtype.kind == "f":
        return np.where(rows >= 0, out, np.nan)
    out = out.astype(object)
    out[rows < 0] = None
    return out


def firm_frame(inputs: PointsInputs, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per firm founded on or before ``as_of``, with its current and prior filing.

    Firms with no known filing stay in the frame with empty filing columns, so that
    every indicator reads them as missing (and the report counts them).
    """
    alive = np.flatnonzero(inputs.enterprises["founding_date"].to_numpy() <= as_of.to_datetime64())
    current, prior = known_filings(inputs, as_of)
    current, prior = current[alive], prior[alive]
    firms = inputs.enterprises.iloc[alive]
    filings = inputs.filings
    columns: dict[str, np.ndarray] = {c: firms[c].to_numpy() for c in firms.columns}
    for column in ("filing_id", "fiscal_year", "revision", *inputs.value_columns):
        source = filings[column]
        columns[column] = _take(
            source.astype("float64") if column in ("fiscal_year", "revision") else source,
            current,
        )
    for column in ("filing_id", *inputs.value_columns):
        columns[PRIOR + column] = _take(filings[column], prior)
    columns[HAS_FILING] = current >= 0
    columns[PRIOR + HAS_FILING] = prior >= 0
    age = as_of.to_datetime64() - firms["founding_date"].to_numpy(dtype="datetime64[ns]")
    columns["firm_age_years"] = age.astype("timedelta64[D]").astype("float64") / 365.25
    return pd.DataFrame(columns, copy=False)


def qualification_count(frame: pd.DataFrame, columns: list[str], as_of: pd.Timestamp) -> np.ndarray:
    """How many of the qualification dates lie on or before ``as_of``, per firm."""
    known = qualification_columns()
    held = np.zeros(len(frame), dtype="float64")
    for column in columns:
        if column not in known:
            raise DataContractError(f"table enterprises: {column!r} is not a qualification date")
        dates = frame[column].to_numpy(dtype="datetime64[ns]")
        held += (dates <= as_of.to_datetime64()).astype("float64")
    return held
