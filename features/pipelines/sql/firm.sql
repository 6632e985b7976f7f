-- Firm attributes as of each spine date. Qualifications count from their certificate date.
SELECT
    s.credit_code,
    s.as_of,
    date_diff('day', e.founding_date, s.as_of) / 365.25 AS firm_age_years,
    e.registered_capital_wan AS firm_registered_capital_wan,
    coalesce(e.hightech_cert_date <= s.as_of, FALSE) AS firm_hightech_certified,
    coalesce(e.srdi_cert_date <= s.as_of, FALSE) AS firm_srdi_certified,
    coalesce(e.little_giant_date <= s.as_of, FALSE) AS firm_little_giant,
    CAST(firm_hightech_certified AS INTEGER)
        + CAST(firm_srdi_certified AS INTEGER)
        + CAST(firm_little_giant AS INTEGER) AS firm_qualifications,
    e.in_digital_park AS firm_in_digital_park,
    e.industry AS firm_industry,
    e.premises AS firm_premises
FROM spine AS s
JOIN src_enterprises AS e ON e.credit_code = s.credit_code
