-- Monthly tax filings as of each spine date. idx 0 is the month before the as-of month;
-- per month the latest filing made by the as-of date counts. Revenue ratios use the
-- latest innovation filing (feat_innovation, computed first).
WITH visible AS (
    SELECT
        s.credit_code,
        s.as_of,
        CAST(round(t.vat_paid_wan * 1e6) AS HUGEINT) AS y,
        CAST(round(t.income_tax_paid_wan * 1e6) AS HUGEINT) AS income_y,
        t.zero_filing,
        date_diff('month', t.month, s.as_of_month) - 1 AS idx
    FROM spine AS s
    JOIN src_tax_monthly AS t
        ON t.credit_code = s.credit_code
        AND t.filing_date <= s.as_of
        AND (t.superseded_date IS NULL OR t.superseded_date > s.as_of)
        AND t.month < s.as_of_month
        AND t.month >= s.as_of_month - INTERVAL 24 MONTH
),
sums AS (
    -- Money runs on exact integers (1e-6 of CNY 10k = 0.01 CNY), so a rebuild gives the
    -- same bits whatever order parallel threads combine rows in.
    SELECT
        credit_code,
        as_of,
        sum(y) FILTER (WHERE idx < 3) / 1e6 AS vat_3m,
        sum(y) FILTER (WHERE idx < 6) / 1e6 AS vat_6m,
        sum(y) FILTER (WHERE idx < 12) / 1e6 AS vat_12m,
        vat_3m / count(*) FILTER (WHERE idx < 3) AS mean_3m,
        vat_6m / count(*) FILTER (WHERE idx < 6) AS mean_6m,
        vat_12m / count(*) FILTER (WHERE idx < 12) AS mean_12m,
        sum(y) FILTER (WHERE idx BETWEEN 12 AND 14)
            / count(*) FILTER (WHERE idx BETWEEN 12 AND 14) / 1e6 AS mean_3m_last_year,
        sum(y) FILTER (WHERE idx BETWEEN 12 AND 23)
            / count(*) FILTER (WHERE idx BETWEEN 12 AND 23) / 1e6 AS mean_12m_last_year,
        sum(y) FILTER (WHERE idx < 12) AS sy,
        sum(y * y) FILTER (WHERE idx < 12) AS syy,
        sum(idx) FILTER (WHERE idx < 12) AS sx,
        sum(idx * idx) FILTER (WHERE idx < 12) AS sxx,
        sum(idx * y) FILTER (WHERE idx < 12) AS sxy,
        count(*) FILTER (WHERE idx < 6 AND zero_filing) AS zero_6m,
        count(*) FILTER (WHERE idx < 12 AND zero_filing) AS zero_12m,
        count(*) FILTER (WHERE idx < 6) AS months_6m,
        count(*) FILTER (WHERE idx < 12) AS months_12m,
        sum(income_y) FILTER (WHERE idx < 12) / 1e6 AS income_tax_12m,
        min(idx) AS latest_idx,
        min(idx) FILTER (WHERE NOT zero_filing) AS latest_nonzero_idx
    FROM visible
    GROUP BY credit_code, as_of
),
stats AS (
    SELECT
        *,
        CASE WHEN months_12m > 1
            THEN sqrt((months_12m * syy - sy * sy) / (months_12m * (months_12m - 1))) / 1e6
        END AS std_12m,
        -(months_12m * sxy - sx * sy) / nullif(months_12m * sxx - sx * sx, 0) / 1e6
            AS slope_12m
    FROM sums
),
streak AS (
    SELECT v.credit_code, v.as_of, count(*) AS zero_streak
    FROM visible AS v
    JOIN stats AS t ON t.credit_code = v.credit_code AND t.as_of = v.as_of
    WHERE v.zero_filing AND v.idx < coalesce(t.latest_nonzero_idx, 24)
    GROUP BY v.credit_code, v.as_of
)
SELECT
    t.credit_code,
    t.as_of,
    t.vat_3m AS tax_vat_sum_3m,
    t.vat_6m AS tax_vat_sum_6m,
    t.vat_12m AS tax_vat_sum_12m,
    t.mean_3m / nullif(t.mean_12m, 0) AS tax_vat_trend_3m_vs_12m,
    t.mean_6m / nullif(t.mean_12m, 0) AS tax_vat_trend_6m_vs_12m,
    t.slope_12m / nullif(t.mean_12m, 0) AS tax_vat_slope_12m,
    t.mean_3m / nullif(t.mean_3m_last_year, 0) - 1 AS tax_vat_yoy_3m,
    t.mean_12m / nullif(t.mean_12m_last_year, 0) - 1 AS tax_vat_yoy_12m,
    t.std_12m / nullif(t.mean_12m, 0) AS tax_vat_cv_12m,
    CASE WHEN t.months_6m > 0 THEN t.zero_6m END AS tax_zero_filings_6m,
    CASE WHEN t.months_12m > 0 THEN t.zero_12m END AS tax_zero_filings_12m,
    coalesce(z.zero_streak, 0) AS tax_zero_filing_streak,
    t.income_tax_12m AS tax_income_tax_12m,
    12 - t.months_12m AS tax_months_missing_12m,
    t.latest_idx + 1 AS tax_months_since_last_filing,
    t.vat_12m / nullif(i.inno_revenue_wan, 0) AS tax_vat_to_revenue,
    t.income_tax_12m / nullif(i.inno_revenue_wan, 0) AS tax_income_tax_to_revenue
FROM stats AS t
LEFT JOIN streak AS z ON z.credit_code = t.credit_code AND z.as_of = t.as_of
LEFT JOIN feat_innovation AS i ON i.credit_code = t.credit_code AND i.as_of = t.as_of
