"""Large synthetic clean tables for the feature benchmarks (vectorised numpy, seeded).

The simulator models firms faithfully but is sized for hundreds of firms; the benchmarks
need 100k applications, so this writes contract-shaped tables of the right size and
shape (revisions, unit errors, duplicates, firms off the check-in platform) quickly.
"""

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features.contracts.arrow import arrow_schema
from features.contracts.tables import CONTRACTS, INDUSTRIES, PREMISES, PRODUCTS, PURPOSES
from features.credit_code import generate_credit_codes
from features.layout import DataLayout

START = np.datetime64("2022-01-01", "D")
MONTHS = 48  # 2022-01 .. 2025-12


def _write(layout: DataLayout, table: str, columns: dict[str, object]) -> int:
    schema = arrow_schema(CONTRACTS[table])
    arrays = {}
    for field in schema:
        value = columns[field.name]
        if isinstance(value, np.ndarray) and value.dtype.kind == "M":
            value = value.astype("datetime64[D]")
        arrays[field.name] = pa.array(value, type=field.type, from_pandas=True)
    out = layout.clean(table)
    out.mkdir(parents=True, exist_ok=True)
    tbl = pa.table(arrays, schema=schema)
    pq.write_table(tbl, out / "part-00000.parquet")
    return tbl.num_rows


def month_starts() -> np.ndarray:
    return np.arange(np.datetime64("2022-01", "M"), np.datetime64("2022-01", "M") + MONTHS)


def generate(root: Path, firms: int, applications: int, seed: int = 7) -> dict[str, int]:
    """Write clean tables under ``root``; return rows per table."""
    rng = np.random.default_rng(seed)
    layout = DataLayout(root)
    codes = np.array(generate_credit_codes(rng, ["110108", "310115", "440305"], firms))
    rows: dict[str, int] = {}
    size = rng.lognormal(0, 1, firms)  # firm scale
    decline = rng.random(firms) < 0.15  # firms under stress: signals fall in the last year

    founding = START - rng.integers(365, 365 * 15, firms).astype("timedelta64[D]")
    cert = lambda p: np.where(  # noqa: E731
        rng.random(firms) < p,
        (START + rng.integers(-2000, 1400, firms).astype("timedelta64[D]")).astype("O"),
        None,
    )
    rows["enterprises"] = _write(
        layout,
        "enterprises",
        {
            "credit_code": codes,
            "name": np.array([f"firm {i}" for i in range(firms)]),
            "industry": rng.choice(INDUSTRIES, firms),
            "zone_id": np.full(firms, "Z01"),
            "region": np.full(firms, "beijing"),
            "founding_date": founding,
            "registered_capital_wan": np.round(size * 300, 1),
            "operating_status": np.full(firms, "operating"),
            "premises": rng.choice(PREMISES, firms),
            "in_digital_park": rng.random(firms) < 0.6,
            "hightech_cert_date": cert(0.4),
            "srdi_cert_date": cert(0.15),
            "little_giant_date": cert(0.03),
            "snapshot_date": np.full(firms, np.datetime64("2025-12-31", "D")),
        },
    )

    months = month_starts()
    month_days = months.astype("datetime64[D]")
    fall = np.where(np.arange(MONTHS) >= MONTHS - 12, 0.5, 1.0)

    meters = np.concatenate([np.arange(firms), np.flatnonzero(rng.random(firms) < 0.3)])
    m_firm = np.repeat(meters, MONTHS)
    m_month = np.tile(month_days, len(meters))
    level = size[m_firm] * 40_000 * rng.lognormal(0, 0.15, len(m_firm))
    level *= np.where(decline[m_firm], np.tile(fall, len(meters)), 1.0)
    unit_error = rng.random(len(m_firm)) < 0.005
    level = np.where(unit_error, level / 1000, level)
    next_month = (m_month.astype("datetime64[M]") + 1).astype("datetime64[D]")
    published = next_month + rng.integers(5, 25, len(m_firm)).astype("timedelta64[D]")
    meter_ids = np.array([f"M{i:07d}" for i in range(len(meters))])
    rows["electricity_monthly"] = _write(
        layout,
        "electricity_monthly",
        {
            "meter_id": np.repeat(meter_ids, MONTHS),
            "credit_code": codes[m_firm],
            "month": m_month,
            "kwh": np.round(level, 1),
            "published_date": published,
        },
    )

    t_firm = np.repeat(np.arange(firms), MONTHS)
    t_month = np.tile(month_days, firms)
    vat = size[t_firm] * 8 * rng.lognormal(0, 0.3, len(t_firm))
    vat *= np.where(decline[t_firm], np.tile(fall, firms), 1.0)
    zero = rng.random(len(t_firm)) < np.where(decline[t_firm], 0.2, 0.03)
    vat = np.where(zero, 0.0, np.round(vat, 2))
    t_next = (t_month.astype("datetime64[M]") + 1).astype("datetime64[D]")
    rows["tax_monthly"] = _write(
        layout,
        "tax_monthly",
        {
            "credit_code": codes[t_firm],
            "month": t_month,
            "vat_paid_wan": vat,
            "income_tax_paid_wan": np.where(zero, 0.0, np.round(vat * 0.3, 2)),
            "zero_filing": zero,
            "filing_date": t_next + rng.integers(1, 15, len(t_firm)).astype("timedelta64[D]"),
        },
    )

    on_platform = np.flatnonzero(rng.random(firms) < 0.6)
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2026-01-01"))
    days = days[np.is_busday(days)]
    c_firm = np.repeat(on_platform, len(days))
    c_day = np.tile(days, len(on_platform))
    staff = size[c_firm] * 30
    late = np.tile(days >= np.datetime64("2025-01-01"), len(on_platform))
    staff = np.where(decline[c_firm] & late, staff * 0.6, staff)
    rows["checkins_daily"] = _write(
        layout,
        "checkins_daily",
        {
            "credit_code": codes[c_firm],
            "date": c_day,
            "staff_checked_in": rng.poisson(staff).astype(np.int64),
        },
    )

    years = np.array([2021, 2022, 2023, 2024])
    f_firm = np.repeat(np.arange(firms), len(years))
    f_year = np.tile(years, firms)
    revised = rng.random(len(f_firm)) < 0.1
    f_firm = np.concatenate([f_firm, f_firm[revised]])
    f_year = np.concatenate([f_year, f_year[revised]])
    revision = np.concatenate([np.zeros(revised.size, int), np.ones(revised.sum(), int)])
    filed = np.array([np.datetime64(f"{y + 1}-04-01") for y in f_year])
    filed = filed + (rng.integers(0, 80, len(f_firm)) + 60 * revision).astype("timedelta64[D]")
    n = len(f_firm)
    revenue = np.round(size[f_firm] * 2000 * rng.lognormal(0, 0.2, n), 1)
    staff_total = np.maximum(1, (size[f_firm] * 40).astype(int))
    ints = lambda lam: rng.poisson(lam, n)  # noqa: E731
    rows["innovation_filings"] = _write(
        layout,
        "innovation_filings",
        {
            "filing_id": np.array([f"F{i:08d}" for i in range(n)]),
            "credit_code": codes[f_firm],
            "fiscal_year": f_year,
            "revision": revision,
            "filing_date": filed,
            "staff_total": staff_total,
            "rd_staff": (staff_total * rng.uniform(0.1, 0.5, n)).astype(int),
            "high_level_talent": ints(1),
            "new_graduates_hired": ints(3),
            "revenue_wan": revenue,
            "net_profit_wan": np.round(revenue * rng.normal(0.05, 0.1, n), 1),
            "net_assets_wan": np.round(revenue * rng.uniform(-0.1, 1.0, n), 1),
            "taxes_paid_wan": np.round(revenue * 0.05, 1),
            "rd_expense_wan": np.round(revenue * rng.uniform(0.02, 0.2, n), 1),
            "hightech_product_revenue_wan": np.round(revenue * rng.uniform(0, 0.8, n), 1),
            "tech_contract_turnover_wan": np.round(revenue * rng.uniform(0, 0.1, n), 1),
            "vc_financing_wan": np.where(rng.random(n) < 0.1, 1000.0, 0.0),
            "invention_patents": ints(3),
            "utility_models": ints(5),
            "design_patents": ints(1),
            "software_copyrights": ints(4),
            "ic_layouts": ints(0.1),
            "pct_applications": ints(0.3),
            "national_platforms": ints(0.05),
            "provincial_platforms": ints(0.3),
            "st_awards": ints(0.2),
            "standards_drafted": ints(0.3),
            "competition_awards": ints(0.2),
            "talent_program_members": ints(0.3),
        },
    )

    n_ev = int(firms * 0.4)
    e_firm = np.where(rng.random(n_ev) < 0.5, rng.choice(np.flatnonzero(decline), n_ev), 0)
    e_firm = np.where(e_firm == 0, rng.integers(0, firms, n_ev), e_firm)
    e_date = START + rng.integers(0, 4 * 365, n_ev).astype("timedelta64[D]")
    e_type = rng.choice(["overdue", "court_judgment", "dishonest_listing", "credit_repair"], n_ev)
    rows["credit_events"] = _write(
        layout,
        "credit_events",
        {
            "event_id": np.array([f"E{i:08d}" for i in range(n_ev)]),
            "credit_code": codes[e_firm],
            "event_type": e_type,
            "event_date": e_date,
            "amount_wan": np.round(rng.lognormal(3, 1, n_ev), 1),
            "published_date": e_date + rng.integers(0, 40, n_ev).astype("timedelta64[D]"),
        },
    )

    a_firm = rng.integers(0, firms, applications)
    a_date = np.datetime64("2025-01-01") + rng.integers(0, 365, applications).astype(
        "timedelta64[D]"
    )
    matured = a_date < np.datetime64("2025-07-01")
    flag = np.where(matured, (rng.random(applications) < 0.05).astype(float), np.nan)
    rows["applications"] = _write(
        layout,
        "applications",
        {
            "application_id": np.array([f"A{i:08d}" for i in range(applications)]),
            "credit_code": codes[a_firm],
            "application_date": a_date,
            "product": rng.choice(PRODUCTS, applications),
            "amount_wan": np.round(rng.uniform(10, 2000, applications), 1),
            "term_months": rng.choice([6, 12, 24], applications),
            "declared_purpose": rng.choice(PURPOSES, applications),
            "outcome_status": np.where(matured, "matured", "immature"),
            "default_flag": pa.array(flag, type=pa.float64(), from_pandas=True).cast(pa.int64()),
            "default_date": np.where(
                flag == 1, (a_date + np.timedelta64(100, "D")).astype("O"), None
            ),
        },
    )
    return rows


def as_of_default() -> date:
    return date(2025, 12, 31)
