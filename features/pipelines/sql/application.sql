-- Application fields and their ratios to the firm's features as of the application date.
SELECT
    a.application_id,
    a.amount_wan AS app_amount_wan,
    a.term_months AS app_term_months,
    a.product AS app_product,
    a.declared_purpose AS app_purpose,
    a.amount_wan / nullif(f.inno_revenue_wan, 0) AS app_amount_to_revenue,
    a.amount_wan / nullif(f.firm_registered_capital_wan, 0) AS app_amount_to_capital
FROM apps AS a
LEFT JOIN entity_features AS f
    ON f.credit_code = a.credit_code AND f.as_of = a.application_date
