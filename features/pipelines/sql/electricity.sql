-- Electricity as of each spine date. idx 0 is the calendar month before the as-of month.
-- Per meter and month the version in force on the as-of date counts (superseded_date, see
-- sources.py). A reading between $min_ratio and $max_ratio times below its meter's median
-- over the window, whose neighbouring readings (previous and next known month of the same
-- meter) are both at least $min_ratio times larger, is MWh reported as kWh and is
-- multiplied by $factor. Zero readings and sustained falls are never corrected.
WITH visible AS (
    SELECT
        s.credit_code,
        s.as_of,
        e.meter_id,
        e.month,
        e.kwh,
        date_diff('month', e.month, s.as_of_month) - 1 AS idx
    FROM spine AS s
    JOIN src_electricity_monthly AS e
        ON e.credit_code = s.credit_code
        AND e.published_date <= s.as_of
        AND (e.superseded_date IS NULL OR e.superseded_date > s.as_of)
        AND e.month < s.as_of_month
        AND e.month >= s.as_of_month - to_months(CAST($median_window_months AS INTEGER))
),
checked AS (
    SELECT
        *,
        median(kwh) OVER meter AS meter_median,
        lag(kwh) OVER by_month AS prev_kwh,
        lead(kwh) OVER by_month AS next_kwh,
        -- isolated: the meter's neighbouring readings are normal-sized, so a plant that
        -- winds down month after month is never "corrected" back to health
        kwh > 0
            AND kwh * $min_ratio <= meter_median
            AND kwh * $max_ratio >= meter_median
            AND (prev_kwh IS NULL OR prev_kwh >= kwh * $min_ratio)
            AND (next_kwh IS NULL OR next_kwh >= kwh * $min_ratio) AS unit_error
    FROM visible
    WINDOW
        meter AS (PARTITION BY credit_code, as_of, meter_id),
        by_month AS (PARTITION BY credit_code, as_of, meter_id ORDER BY month)
),
monthly AS (
    -- Sums, variances and slopes run on exact integers (milli-kWh), so a rebuild gives
    -- the same bits whatever order parallel threads combine rows in.
    SELECT
        credit_code,
        as_of,
        idx,
        sum(CAST(round(CASE WHEN unit_error THEN kwh * $factor ELSE kwh END * 1000) AS HUGEINT))
            AS y,
        y / 1000 AS kwh,
        count(*) FILTER (WHERE unit_error) AS corrections,
        count(*) AS meters
    FROM checked
    GROUP BY credit_code, as_of, idx
),
sums AS (
    SELECT
        credit_code,
        as_of,
        median(kwh) AS firm_median,
        arg_min(kwh, idx) AS kwh_last,
        min(idx) + 1 AS months_since_last,
        sum(y) FILTER (WHERE idx < 3) / count(*) FILTER (WHERE idx < 3) / 1000 AS mean_3m,
        sum(y) FILTER (WHERE idx < 6) / count(*) FILTER (WHERE idx < 6) / 1000 AS mean_6m,
        sum(y) FILTER (WHERE idx BETWEEN 12 AND 14)
            / count(*) FILTER (WHERE idx BETWEEN 12 AND 14) / 1000 AS mean_3m_last_year,
        sum(y) FILTER (WHERE idx BETWEEN 12 AND 23)
            / count(*) FILTER (WHERE idx BETWEEN 12 AND 23) / 1000 AS mean_12m_last_year,
        count(*) FILTER (WHERE idx < 12) AS months_12m,
        sum(y) FILTER (WHERE idx < 12) AS sy,
        sum(y * y) FILTER (WHERE idx < 12) AS syy,
        sum(idx) FILTER (WHERE idx < 12) AS sx,
        sum(idx * idx) FILTER (WHERE idx < 12) AS sxx,
        sum(idx * y) FILTER (WHERE idx < 12) AS sxy,
        count(*) FILTER (WHERE idx < 12 AND kwh = 0) AS zero_months_12m,
        min(kwh) FILTER (WHERE idx < 12) AS min_12m,
        sum(corrections) FILTER (WHERE idx < 12) AS corrections_12m,
        max(meters) FILTER (WHERE idx < 12) AS meters_12m
    FROM monthly
    GROUP BY credit_code, as_of
),
stats AS (
    SELECT
        *,
        sy / months_12m / 1000 AS mean_12m,
        CASE WHEN months_12m > 1
            THEN sqrt((months_12m * syy - sy * sy) / (months_12m * (months_12m - 1))) / 1000
        END AS std_12m,
        -- slope against time (x = -idx) is minus the slope against idx
        -(months_12m * sxy - sx * sy) / nullif(months_12m * sxx - sx * sx, 0) / 1000
            AS slope_12m
    FROM sums
),
low AS (
    SELECT m.credit_code, m.as_of, count(*) AS low_months_12m
    FROM monthly AS m
    JOIN stats AS t ON t.credit_code = m.credit_code AND t.as_of = m.as_of
    WHERE m.idx < 12 AND m.kwh < $low_share * t.firm_median
    GROUP BY m.credit_code, m.as_of
)
SELECT
    t.credit_code,
    t.as_of,
    t.kwh_last AS elec_kwh_last,
    t.mean_3m AS elec_kwh_mean_3m,
    t.mean_6m AS elec_kwh_mean_6m,
    t.mean_12m AS elec_kwh_mean_12m,
    t.mean_3m / nullif(t.mean_12m, 0) AS elec_trend_3m_vs_12m,
    t.mean_3m / nullif(t.mean_6m, 0) AS elec_trend_3m_vs_6m,
    t.slope_12m / nullif(t.mean_12m, 0) AS elec_slope_12m,
    t.mean_3m / nullif(t.mean_3m_last_year, 0) - 1 AS elec_yoy_3m,
    t.mean_12m / nullif(t.mean_12m_last_year, 0) - 1 AS elec_yoy_12m,
    t.std_12m / nullif(t.mean_12m, 0) AS elec_cv_12m,
    12 - t.months_12m AS elec_months_missing_12m,
    CASE WHEN t.months_12m > 0 THEN coalesce(l.low_months_12m, 0) / t.months_12m END
        AS elec_low_month_share_12m,
    CASE WHEN t.months_12m > 0 THEN t.zero_months_12m END AS elec_zero_months_12m,
    t.min_12m / nullif(t.firm_median, 0) AS elec_min_to_median_12m,
    t.corrections_12m AS elec_unit_corrections_12m,
    t.months_since_last AS elec_months_since_last,
    t.meters_12m AS elec_meters
FROM stats AS t
LEFT JOIN low AS l ON l.credit_code = t.credit_code AND l.as_of = t.as_of
