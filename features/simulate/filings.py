"""The ``innovation_filings`` table: one annual filing per firm and fiscal year.

Innovation indicators follow long-run quality, size, industry and stage, not short-run
stress; revenue and profit carry the year's average health. Filings arrive between March
and June of the next year (late ones later); some are revised, duplicated, incomplete or
carry a revenue typo. A filing due while the firm lapses (see ``missingness``) is made
when the firm reports again within that year, or not at all.
"""

import numpy as np

from features.simulate.activity import Activity
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.enterprises import NO_DAY, Certificates
from features.simulate.latent import NO_MONTH, Paths, month_start_day
from features.simulate.missingness import next_reporting_month
from features.simulate.population import Bools, Firms
from features.simulate.writer import Frame

KEY_COLUMNS = ("filing_id", "credit_code", "fiscal_year", "revision", "filing_date")
INDICATORS = (
    "staff_total",
    "rd_staff",
    "high_level_talent",
    "new_graduates_hired",
    "revenue_wan",
    "net_profit_wan",
    "net_assets_wan",
    "taxes_paid_wan",
    "rd_expense_wan",
    "hightech_product_revenue_wan",
    "tech_contract_turnover_wan",
    "vc_financing_wan",
    "invention_patents",
    "utility_models",
    "design_patents",
    "software_copyrights",
    "ic_layouts",
    "pct_applications",
    "national_platforms",
    "provincial_platforms",
    "st_awards",
    "standards_drafted",
    "competition_awards",
    "talent_program_members",
)
_REVISED = ("revenue_wan", "net_profit_wan", "staff_total", "rd_expense_wan", "taxes_paid_wan")
_OUTLIER_FACTOR = 100.0


def _fiscal_years(timeline: Timeline) -> Ints:
    first_year = int(str(timeline.first_month)[:4])
    last_year = int(str(timeline.snapshot)[:4])
    return np.arange(first_year - 1, last_year, dtype=np.int64)


def _cumulative(rng: np.random.Generator, rate: Floats, initial_years: Floats) -> Floats:
    """Stock of a count that grows each year: an initial stock then yearly additions."""
    initial = rng.poisson(rate[:, 0] * initial_years)
    added = rng.poisson(rate)
    return (initial[:, None] + np.cumsum(added, axis=1)).astype(np.float64)


def _indicators(
    firms: Firms,
    activity: Activity,
    certs: Certificates,
    years: Ints,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> dict[str, Floats]:
    """Every indicator per (firm, fiscal year), before any mess."""
    ind = list(cfg.industries.values())

    def param(name: str) -> Floats:
        return np.array([getattr(i, name) for i in ind])[firms.industry][:, None]

    n, n_fy = firms.n, len(years)
    q = firms.quality[:, None]
    first_year = years[0] + 1
    jan = timeline.burn_in + (years - first_year) * 12  # column of January in latent arrays
    months = jan[:, None] + np.arange(12)[None, :]  # (n_fy, 12)
    revenue = activity.revenue_wan[:, months].sum(axis=2) * np.exp(rng.normal(0, 0.03, (n, n_fy)))
    staff = np.maximum(np.round(activity.staff[:, jan + 11]), 1.0)
    mean_dev = activity.deviation[:, months].mean(axis=2)
    rd_share = np.clip(param("rd_staff_share") * np.exp(0.2 * q), 0.03, 0.9)
    rd_staff = rng.binomial(staff.astype(np.int64), np.broadcast_to(rd_share, (n, n_fy)))
    rd = rd_staff.astype(np.float64)
    year_end = (years + 1 - 1970) * 365.25  # approx days since epoch of each year end
    age = (year_end[None, :] - firms.founding[:, None]) / 365.25
    young = age < 3
    margin = (
        param("margin") + 0.04 * q + 0.12 * mean_dev - 0.05 * young + rng.normal(0, 0.04, (n, n_fy))
    )
    profit = revenue * margin
    assets = revenue * 0.9 + 0.3 * firms.registered_capital[:, None]
    equity_share = (1 - firms.leverage[:, None]) + 0.3 * np.minimum(mean_dev, 0)
    has_ht = (certs.hightech[:, None] != NO_DAY) & (certs.hightech[:, None] < year_end[None, :])
    tax_rate = np.where(has_ht, 0.15, 0.25)
    taxes = revenue * param("vat_rate") + np.maximum(profit, 0) * tax_rate
    innov = np.exp(0.6 * q)
    initial_years = np.clip(age[:, 0], 0, 8)
    out: dict[str, Floats] = {
        "staff_total": staff,
        "rd_staff": rd,
        "high_level_talent": rng.poisson(rd * 0.02 * np.exp(0.5 * q)).astype(np.float64),
        "new_graduates_hired": rng.poisson(
            staff * np.clip(0.04 + 0.3 * firms.growth[:, None], 0.01, 0.3)
        ).astype(np.float64),
        "revenue_wan": revenue.round(2),
        "net_profit_wan": profit.round(2),
        "net_assets_wan": (assets * equity_share).round(2),
        "taxes_paid_wan": (taxes * np.exp(rng.normal(0, 0.05, (n, n_fy)))).round(2),
        "rd_expense_wan": (
            rd * param("rd_cost_per_staff_wan") * np.exp(rng.normal(0, 0.2, (n, n_fy)))
        ).round(2),
        "hightech_product_revenue_wan": (
            revenue
            * np.where(has_ht, rng.uniform(0.5, 0.9, (n, n_fy)), rng.uniform(0, 0.3, (n, n_fy)))
        ).round(2),
        "tech_contract_turnover_wan": (
            revenue
            * (rng.random((n, n_fy)) < param("tech_contract_prob"))
            * rng.uniform(0.05, 0.4, (n, n_fy))
        ).round(2),
        "vc_financing_wan": (
            np.where(
                rng.random((n, n_fy)) < 0.04 * np.exp(0.8 * q) * (1 + young),
                np.exp(rng.normal(np.log(800), 1.0, (n, n_fy))),
                0.0,
            )
        ).round(1),
    }
    for column, rate in (
        ("invention_patents", "invention_rate"),
        ("utility_models", "utility_rate"),
        ("design_patents", "design_rate"),
        ("software_copyrights", "software_rate"),
        ("ic_layouts", "ic_rate"),
    ):
        out[column] = _cumulative(rng, rd * param(rate) * innov, initial_years)
    out["pct_applications"] = rng.poisson(rd * param("invention_rate") * 0.1 * innov).astype(
        np.float64
    )
    size = np.log(np.maximum(staff, 1))
    national = rng.random(n) < 1 / (1 + np.exp(-(-6.5 + 1.5 * firms.quality + 0.6 * size[:, -1])))
    out["national_platforms"] = np.broadcast_to(national[:, None], (n, n_fy)).astype(np.float64)
    out["provincial_platforms"] = _cumulative(
        rng, 0.04 * innov * np.exp(0.3 * size) * np.ones((n, n_fy)) / 3, initial_years / 3
    )
    out["st_awards"] = rng.poisson(0.03 * np.exp(q) * np.ones((n, n_fy))).astype(np.float64)
    out["standards_drafted"] = rng.poisson(0.02 * innov * size).astype(np.float64)
    out["competition_awards"] = rng.poisson(0.1 * np.exp(0.5 * q) * (1 + young)).astype(np.float64)
    out["talent_program_members"] = rng.poisson(out["high_level_talent"] * 0.3).astype(np.float64)
    return out


def _after_lapses(
    filed: Ints, years: Ints, lapsed: Bools, timeline: Timeline, rng: np.random.Generator
) -> Ints:
    """Move a filing due in a lapse to the month the firm reports again, in the same year.

    A filing that would then fall after December of the filing year is never made (the
    date is pushed past the snapshot, so it is dropped like any unknown filing).
    """
    n_months = timeline.n_months
    month = (filed.astype("datetime64[D]").astype("datetime64[M]") - timeline.first_month).astype(
        np.int64
    )
    inside = (month >= 0) & (month < n_months)
    at = np.clip(month, 0, n_months - 1)
    rows = np.arange(len(filed))[:, None]
    due_in_lapse = inside & lapsed[rows, at]
    catch_up = next_reporting_month(lapsed)[rows, at]
    december = (
        np.array([f"{y + 1}-12" for y in years], dtype="datetime64[M]") - timeline.first_month
    )
    made = catch_up <= december.astype(np.int64)[None, :]
    late_day = month_start_day(timeline, catch_up) + rng.integers(0, 28, filed.shape)
    never = int(timeline.snapshot.astype(np.int64)) + 1
    moved = np.where(made & (catch_up < n_months), late_day, never)
    return np.asarray(np.where(due_in_lapse, moved, filed), dtype=np.int64)


def filings_frame(
    firms: Firms,
    activity: Activity,
    paths: Paths,
    certs: Certificates,
    lapsed: Bools,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's filings: originals, revisions and duplicates, in firm-year order."""
    years = _fiscal_years(timeline)
    n, n_fy = firms.n, len(years)
    mess = cfg.messiness
    values = _indicators(firms, activity, certs, years, timeline, cfg, rng)
    next_year = np.array([np.datetime64(f"{y + 1}-03-01") for y in years]).astype(np.int64)
    late = rng.random((n, n_fy)) < mess.late_filing_rate
    filed = next_year[None, :] + np.where(
        late, 122 + rng.integers(0, 150, (n, n_fy)), rng.integers(0, 122, (n, n_fy))
    )
    filed = _after_lapses(filed, years, lapsed, timeline, rng)
    year_end = np.array([np.datetime64(f"{y}-12-31") for y in years]).astype(np.int64)
    snap = int(timeline.snapshot.astype(np.int64))
    default_day = np.where(paths.default_month == NO_MONTH, snap + 10_000, paths.default_day)
    exists = (
        (firms.founding[:, None] < year_end[None, :])
        & (filed <= snap)
        & (filed < default_day[:, None] + 60)
    )
    firm_idx, fy_idx = np.nonzero(exists)
    base = {k: v[firm_idx, fy_idx].copy() for k, v in values.items()}
    outlier = rng.random(len(firm_idx)) < mess.revenue_outlier_rate
    base["revenue_wan"] = np.where(
        outlier, base["revenue_wan"] * _OUTLIER_FACTOR, base["revenue_wan"]
    )
    for column in INDICATORS:
        if column == "staff_total":
            continue
        holes = rng.random(len(firm_idx)) < mess.filing_missing_cell_rate
        base[column] = np.where(holes, np.nan, base[column])
    revision = np.zeros(len(firm_idx), dtype=np.int64)
    file_day = filed[firm_idx, fy_idx]
    revised = (rng.random(len(firm_idx)) < mess.revision_rate) | outlier
    rev_day = file_day + rng.integers(20, 180, len(firm_idx))
    revised &= rev_day <= snap
    rows = np.flatnonzero(revised)
    rev_values = {k: v[firm_idx[rows], fy_idx[rows]].copy() for k, v in values.items()}
    for column in _REVISED:
        rev_values[column] = (rev_values[column] * rng.uniform(0.95, 1.05, len(rows))).round(2)
    rev_values["staff_total"] = np.maximum(
        np.round(rev_values["staff_total"]), rev_values["rd_staff"]
    )
    dup = np.flatnonzero(rng.random(len(firm_idx)) < mess.duplicate_filing_rate)
    order_firm = np.concatenate([firm_idx, firm_idx[rows], firm_idx[dup]])
    order_fy = np.concatenate([fy_idx, fy_idx[rows], fy_idx[dup]])
    revisions = np.concatenate([revision, np.ones(len(rows), dtype=np.int64), revision[dup]])
    days = np.concatenate([file_day, rev_day[rows], file_day[dup]])
    cols = {k: np.concatenate([base[k], rev_values[k], base[k][dup]]) for k in INDICATORS}
    order = np.lexsort((revisions, order_fy, order_firm))
    codes = firms.codes[order_firm[order]]
    fiscal = years[order_fy[order]]
    frame: Frame = {
        "filing_id": np.array(
            [f"{c}-{y}-{r}" for c, y, r in zip(codes, fiscal, revisions[order], strict=True)],
            dtype=object,
        ),
        "credit_code": codes,
        "fiscal_year": fiscal,
        "revision": revisions[order],
        "filing_date": days[order].astype("datetime64[D]"),
    }
    frame.update({k: v[order] for k, v in cols.items()})
    return frame
