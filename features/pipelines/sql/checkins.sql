-- Staff check-ins as of each spine date. age 1 is the day before the as-of date; a day's
-- count is known $known_after_days day(s) later, so younger days are not visible yet.
WITH visible AS (
    SELECT
        s.credit_code,
        s.as_of,
        c.staff_checked_in AS n,
        date_diff('day', c.date, s.as_of) AS age
    FROM spine AS s
    JOIN src_checkins_daily AS c
        ON c.credit_code = s.credit_code
        AND c.date <= s.as_of - CAST($known_after_days AS INTEGER)
        AND c.date >= s.as_of - 365
),
stats AS (
    -- Means, variance and slope come from exact integer sums, so the result does not
    -- depend on the order in which parallel threads combine rows.
    SELECT
        credit_code,
        as_of,
        sum(n) FILTER (WHERE age <= 30) / count(*) FILTER (WHERE age <= 30) AS mean_30d,
        sum(n) FILTER (WHERE age BETWEEN 31 AND 60)
            / count(*) FILTER (WHERE age BETWEEN 31 AND 60) AS mean_prev_30d,
        sum(n) FILTER (WHERE age <= 90) / count(*) FILTER (WHERE age <= 90) AS mean_90d,
        sum(n) FILTER (WHERE age BETWEEN 91 AND 180)
            / count(*) FILTER (WHERE age BETWEEN 91 AND 180) AS mean_prev_90d,
        sum(n) / count(*) AS mean_365d,
        count(*) FILTER (WHERE age <= 90) AS k_90d,
        sum(n) FILTER (WHERE age <= 90) AS s_90d,
        sum(n * n) FILTER (WHERE age <= 90) AS ss_90d,
        sum(age) FILTER (WHERE age <= 90) AS sx_90d,
        sum(age * age) FILTER (WHERE age <= 90) AS sxx_90d,
        sum(n * age) FILTER (WHERE age <= 90) AS sxy_90d,
        max(n) AS headcount,
        count(*) FILTER (WHERE age <= 30 AND n = 0) AS zero_30d,
        count(*) FILTER (WHERE age <= 90 AND n = 0) AS zero_90d,
        count(*) FILTER (WHERE age <= 30) AS days_30d,
        min(age) AS days_since_last
    FROM visible
    GROUP BY credit_code, as_of
),
moments AS (
    SELECT
        *,
        CASE WHEN k_90d > 1
            THEN sqrt(greatest(ss_90d - s_90d * s_90d / k_90d, 0) / (k_90d - 1)) END AS std_90d,
        -- slope of n against time (x = -age): minus the slope against age
        -(k_90d * sxy_90d - sx_90d * s_90d)
            / nullif(k_90d * sxx_90d - sx_90d * sx_90d, 0) AS slope_90d
    FROM stats
)
SELECT
    credit_code,
    as_of,
    TRUE AS ck_on_platform,
    mean_30d AS ck_staff_mean_30d,
    mean_90d AS ck_staff_mean_90d,
    mean_365d AS ck_staff_mean_365d,
    mean_30d / nullif(mean_365d, 0) AS ck_trend_30d_vs_365d,
    slope_90d * 30 / nullif(mean_90d, 0) AS ck_slope_90d,
    1 - mean_30d / nullif(mean_prev_30d, 0) AS ck_drop_30d,
    1 - mean_90d / nullif(mean_prev_90d, 0) AS ck_drop_90d,
    headcount AS ck_headcount_proxy_12m,
    mean_30d / nullif(headcount, 0) AS ck_attendance_rate_30d,
    zero_30d AS ck_zero_days_30d,
    zero_90d AS ck_zero_days_90d,
    days_30d AS ck_days_reported_30d,
    days_since_last AS ck_days_since_last,
    std_90d / nullif(mean_90d, 0) AS ck_cv_90d
FROM moments
