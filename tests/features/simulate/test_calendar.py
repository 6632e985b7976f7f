"""The working calendar: weekends, public holidays, the Spring Festival dip."""

from datetime import date

import numpy as np

from features.simulate.calendar import build_timeline


def test_working_days_exclude_weekends_and_public_holidays() -> None:
    """Check-in days skip weekends, the Spring Festival and the National Day week."""
    timeline = build_timeline(date(2025, 12, 31), 1, 12)
    days = timeline.working.days
    weekday = (days.astype(np.int64) + 3) % 7
    assert (weekday < 5).all()
    for holiday in ("2025-01-29", "2025-10-03", "2025-05-01", "2025-01-01"):
        assert np.datetime64(holiday) not in days
    assert np.datetime64("2025-01-27") in days


def test_spring_festival_month_has_lower_electricity_activity() -> None:
    """February 2024 (Spring Festival) has a lower activity factor than March 2024."""
    timeline = build_timeline(date(2025, 12, 31), 2, 12)
    february, march = timeline.activity_factor[1], timeline.activity_factor[2]
    assert february < 0.9 * march


def test_summer_cooling_raises_electricity_activity() -> None:
    """July's factor exceeds May's: cooling load."""
    timeline = build_timeline(date(2025, 12, 31), 1, 12)
    assert timeline.activity_factor[6] > timeline.activity_factor[4]


def test_day_before_a_long_break_is_flagged() -> None:
    """The last working day before National Day is marked as before a holiday."""
    timeline = build_timeline(date(2025, 12, 31), 1, 12)
    work = timeline.working
    position = int(np.flatnonzero(work.days == np.datetime64("2025-09-30"))[0])
    assert work.before_holiday[position]
