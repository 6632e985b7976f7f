-- Applications made on or before the build date, one row per application_id.
SELECT *
FROM src_applications
WHERE application_date <= CAST($build_date AS DATE)
QUALIFY row_number() OVER (
    PARTITION BY application_id ORDER BY application_date DESC, credit_code, product
) = 1
