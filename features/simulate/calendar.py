"""Chinese working calendar and the simulation timeline (months, working days).

Public holidays follow the State Council schedules (days off only: weekend make-up
working days, 调休, are not modelled, so check-ins fall on Monday to Friday only).
The table covers the years a default run can reach; others raise ConfigError.
"""

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from jifen.errors import ConfigError

_HOLIDAYS: Final[dict[int, str]] = {
    2016: "0101-0103 0207-0213 0402-0404 0430-0502 0609-0611 0915-0917 1001-1007",
    2017: "0101-0102 0127-0202 0402-0404 0429-0501 0528-0530 1001-1008",
    2018: "0101-0101 0215-0221 0405-0407 0429-0501 0616-0618 0922-0924 1001-1007 1230-1231",
    2019: "0101-0101 0204-0210 0405-0407 0501-0504 0607-0609 0913-0915 1001-1007",
    2020: "0101-0101 0124-0202 0404-0406 0501-0505 0625-0627 1001-1008",
    2021: "0101-0103 0211-0217 0403-0405 0501-0505 0612-0614 0919-0921 1001-1007",
    2022: "0101-0103 0131-0206 0403-0405 0430-0504 0603-0605 0910-0912 1001-1007 1231-1231",
    2023: "0101-0102 0121-0127 0405-0405 0429-0503 0622-0624 0929-1006",
    2024: "0101-0101 0210-0217 0404-0406 0501-0505 0610-0610 0915-0917 1001-1007",
    2025: "0101-0101 0128-0204 0404-0406 0501-0505 0531-0602 1001-1008",
    2026: "0101-0103 0215-0223 0404-0406 0501-0505 0619-0621 0925-0927 1001-1007",
}
"""Official days off per year: inclusive MMDD-MMDD ranges within that year."""

_SPRING_FESTIVAL_RAMP_DAYS: Final = 7
"""Working days after the Spring Festival holiday when firms run at reduced activity."""
_RAMP_ACTIVITY: Final = 0.6
_BASE_LOAD: Final = 0.4
"""Share of monthly electricity that does not depend on working days (servers, cooling)."""
_MEAN_WORKING_DAYS: Final = 21.75
_COOLING: Final = np.array([1.06, 1.0, 0.95, 0.94, 1.0, 1.1, 1.26, 1.27, 1.1, 0.96, 0.95, 1.04])
"""Monthly electricity factor for heating in winter and cooling in summer."""

Days = npt.NDArray[np.datetime64]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def covered_years() -> range:
    """Return the years the built-in holiday table covers."""
    return range(min(_HOLIDAYS), max(_HOLIDAYS) + 1)


def holidays(first_year: int, last_year: int) -> Days:
    """Return every official day off from ``first_year`` to ``last_year`` inclusive.

    Raises:
        ConfigError: a year is outside the built-in table.

    """
    years = covered_years()
    if first_year < years.start or last_year >= years.stop:
        raise ConfigError(
            f"simulation years {first_year}-{last_year} must lie within the holiday table "
            f"{years.start}-{years.stop - 1}; shorten history_years or move snapshot_date"
        )
    days = [
        np.arange(a, b + 1, dtype="datetime64[D]")
        for year in range(first_year, last_year + 1)
        for a, b in _ranges(year)
    ]
    return np.unique(np.concatenate(days))


def _ranges(year: int) -> list[tuple[np.datetime64, np.datetime64]]:
    def day(mmdd: str) -> np.datetime64:
        return np.datetime64(f"{year}-{mmdd[:2]}-{mmdd[2:]}")

    return [(day(a), day(b)) for a, b in (r.split("-") for r in _HOLIDAYS[year].split())]


@dataclass(frozen=True)
class WorkingDays:
    """Working days of the alternative-data window, with what shapes attendance on them."""

    days: Days
    month_index: Ints
    """Index of each day's month in the window (0 = first month)."""
    weekday: Ints
    """0 = Monday ... 4 = Friday."""
    before_holiday: npt.NDArray[np.bool_]
    """The last working day before a break of three days or more."""


@dataclass(frozen=True)
class Timeline:
    """Months of the window (plus burn-in before it) and the working calendar."""

    snapshot: np.datetime64
    first_month: np.datetime64
    n_months: int
    burn_in: int
    month_starts: Days
    days_in_month: Ints
    activity_factor: Floats
    """Monthly electricity factor: working days, Spring Festival ramp-up and climate."""
    working: WorkingDays

    @property
    def n_total(self) -> int:
        """Months simulated for the latent process: burn-in plus window."""
        return self.burn_in + self.n_months

    def month_of(self, days: Days) -> Ints:
        """Window month index of each day (negative before the window)."""
        months = days.astype("datetime64[M]")
        return (months - self.first_month).astype(np.int64)


def build_timeline(snapshot: date, history_years: int, burn_in: int) -> Timeline:
    """Build the window of ``history_years`` whole years of months ending at the snapshot month."""
    snap = np.datetime64(snapshot, "D")
    last_month = snap.astype("datetime64[M]")
    n_months = 12 * history_years
    first_month = last_month - (n_months - 1)
    months = first_month + np.arange(n_months)
    starts = months.astype("datetime64[D]")
    ends = (months + 1).astype("datetime64[D]")
    first_year = int(str(first_month)[:4])
    off = holidays(first_year, snapshot.year)
    all_days = np.arange(starts[0], min(ends[-1], snap + 1), dtype="datetime64[D]")
    weekday = (all_days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    is_work = (weekday < 5) & ~np.isin(all_days, off)
    activity = _activity_weights(all_days, is_work)
    month_idx = (all_days.astype("datetime64[M]") - first_month).astype(np.int64)
    active_days = np.bincount(month_idx, weights=activity, minlength=n_months)
    cooling = _COOLING[(months.astype(np.int64) % 12)]
    factor = (_BASE_LOAD + (1 - _BASE_LOAD) * active_days / _MEAN_WORKING_DAYS) * cooling
    work_days = all_days[is_work]
    next_gap = np.diff(work_days.astype(np.int64), append=work_days[-1].astype(np.int64) + 1)
    working = WorkingDays(
        days=work_days,
        month_index=month_idx[is_work],
        weekday=weekday[is_work],
        before_holiday=next_gap >= 4,
    )
    return Timeline(
        snapshot=snap,
        first_month=first_month,
        n_months=n_months,
        burn_in=burn_in,
        month_starts=starts,
        days_in_month=(ends - starts).astype(np.int64),
        activity_factor=factor,
        working=working,
    )


def _activity_weights(days: Days, is_work: npt.NDArray[np.bool_]) -> Floats:
    """Weight each day 1 if worked, 0 if not, less in the week after the Spring Festival."""
    weights = is_work.astype(np.float64)
    work_positions = np.flatnonzero(is_work)
    for begin, end in (r for year in _HOLIDAYS for r in _ranges(year)):
        # The Spring Festival break is the one that is at least 7 days long in Jan/Feb.
        if begin.astype("datetime64[M]").astype(np.int64) % 12 > 1:
            continue
        if (end - begin).astype(np.int64) < 6:
            continue
        after = work_positions[days[work_positions] > end][:_SPRING_FESTIVAL_RAMP_DAYS]
        weights[after] = _RAMP_ACTIVITY
    return weights
