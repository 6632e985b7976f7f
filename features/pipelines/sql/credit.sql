-- Credit events as of each spine date: per event_id the latest version published by then.
-- Windows run on event_date; months are calendar-month boundaries crossed.
WITH visible AS (
    SELECT
        s.credit_code,
        s.as_of,
        e.event_type,
        e.event_date,
        -- exact integers (0.01 CNY), so sums do not depend on the order rows arrive in
        CAST(round(e.amount_wan * 1e6) AS HUGEINT) AS cents,
        e.event_date > s.as_of - INTERVAL 12 MONTH AS in_12m,
        e.event_date > s.as_of - INTERVAL 24 MONTH AS in_24m,
        e.event_date > s.as_of - INTERVAL 36 MONTH AS in_36m
    FROM spine AS s
    JOIN src_credit_events AS e
        ON e.credit_code = s.credit_code
        AND e.published_date <= s.as_of
        AND (e.superseded_date IS NULL OR e.superseded_date > s.as_of)
),
repairs AS (
    SELECT credit_code, as_of,
        max(event_date) FILTER (WHERE event_type = 'credit_repair') AS last_repair,
        max(event_date) FILTER (WHERE event_type = 'dishonest_listing') AS last_listing
    FROM visible
    GROUP BY credit_code, as_of
)
SELECT
    v.credit_code,
    v.as_of,
    count(*) FILTER (WHERE event_type = 'overdue' AND in_12m) AS credit_overdue_count_12m,
    count(*) FILTER (WHERE event_type = 'overdue' AND in_24m) AS credit_overdue_count_24m,
    count(*) FILTER (WHERE event_type = 'overdue' AND in_36m) AS credit_overdue_count_36m,
    count(*) FILTER (WHERE event_type = 'court_judgment' AND in_12m)
        AS credit_court_judgment_count_12m,
    count(*) FILTER (WHERE event_type = 'court_judgment' AND in_24m)
        AS credit_court_judgment_count_24m,
    count(*) FILTER (WHERE event_type = 'court_judgment' AND in_36m)
        AS credit_court_judgment_count_36m,
    count(*) FILTER (WHERE event_type = 'dishonest_listing' AND in_12m)
        AS credit_dishonest_listing_count_12m,
    count(*) FILTER (WHERE event_type = 'dishonest_listing' AND in_24m)
        AS credit_dishonest_listing_count_24m,
    count(*) FILTER (WHERE event_type = 'dishonest_listing' AND in_36m)
        AS credit_dishonest_listing_count_36m,
    count(*) FILTER (WHERE event_type = 'credit_repair' AND in_12m) AS credit_repair_count_12m,
    count(*) FILTER (WHERE event_type = 'credit_repair' AND in_24m) AS credit_repair_count_24m,
    count(*) FILTER (WHERE event_type = 'credit_repair' AND in_36m) AS credit_repair_count_36m,
    date_diff('month', max(event_date) FILTER (WHERE event_type = 'overdue'), v.as_of)
        AS credit_months_since_overdue,
    date_diff('month', max(event_date) FILTER (WHERE event_type = 'court_judgment'), v.as_of)
        AS credit_months_since_court_judgment,
    date_diff('month', max(event_date) FILTER (WHERE event_type = 'dishonest_listing'), v.as_of)
        AS credit_months_since_dishonest_listing,
    date_diff('month', max(event_date) FILTER (WHERE event_type = 'credit_repair'), v.as_of)
        AS credit_months_since_repair,
    coalesce(any_value(r.last_listing) > coalesce(any_value(r.last_repair), DATE '0001-01-01'),
        FALSE) AS credit_dishonest_active,
    coalesce(sum(cents) FILTER (WHERE event_type = 'overdue' AND in_12m), 0) / 1e6
        AS credit_overdue_amount_12m,
    coalesce(sum(cents) FILTER (WHERE event_type = 'overdue' AND in_36m), 0) / 1e6
        AS credit_overdue_amount_36m,
    coalesce(sum(cents) FILTER (
        WHERE event_type = 'overdue'
        AND event_date > coalesce(r.last_repair, DATE '0001-01-01')
    ), 0) / 1e6 AS credit_overdue_amount_unrepaired,
    coalesce(sum(cents) FILTER (WHERE event_type = 'court_judgment' AND in_36m), 0) / 1e6
        AS credit_judgment_amount_36m
FROM visible AS v
JOIN repairs AS r ON r.credit_code = v.credit_code AND r.as_of = v.as_of
GROUP BY v.credit_code, v.as_of
