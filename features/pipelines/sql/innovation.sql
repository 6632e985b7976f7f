-- Latest innovation filing known on each spine date: per fiscal year the highest revision
-- published by then, then the highest fiscal year; growth against fiscal_year - 1.
WITH visible AS (
    SELECT s.credit_code, s.as_of, f.* EXCLUDE (credit_code)
    FROM spine AS s
    JOIN src_innovation_filings AS f
        ON f.credit_code = s.credit_code AND f.filing_date <= s.as_of
    QUALIFY row_number() OVER (
        PARTITION BY s.credit_code, s.as_of, f.fiscal_year
        ORDER BY f.revision DESC, f.filing_date DESC, f.filing_id DESC
    ) = 1
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY credit_code, as_of ORDER BY fiscal_year DESC
    ) AS year_rank
    FROM visible
)
SELECT
    c.credit_code,
    c.as_of,
    TRUE AS inno_has_filing,
    year(c.as_of) - c.fiscal_year AS inno_filing_lag_years,
    c.revision AS inno_revision,
    c.revenue_wan AS inno_revenue_wan,
    CASE WHEN p.revenue_wan > 0 THEN c.revenue_wan / p.revenue_wan - 1 END
        AS inno_revenue_growth,
    c.rd_expense_wan AS inno_rd_expense_wan,
    CASE WHEN c.revenue_wan > 0 THEN c.rd_expense_wan / c.revenue_wan END AS inno_rd_intensity,
    CASE WHEN p.rd_expense_wan > 0 THEN c.rd_expense_wan / p.rd_expense_wan - 1 END
        AS inno_rd_expense_growth,
    c.staff_total AS inno_staff_total,
    CASE WHEN c.staff_total > 0 THEN c.rd_staff / c.staff_total END AS inno_rd_staff_share,
    c.high_level_talent AS inno_high_level_talent,
    c.talent_program_members AS inno_talent_program_members,
    c.new_graduates_hired AS inno_new_graduates_hired,
    c.invention_patents AS inno_invention_patents,
    c.invention_patents + c.utility_models + c.design_patents + c.software_copyrights
        + c.ic_layouts AS inno_ip_total,
    c.pct_applications AS inno_pct_applications,
    CASE WHEN c.revenue_wan > 0 THEN c.net_profit_wan / c.revenue_wan END AS inno_net_margin,
    CASE WHEN c.net_assets_wan > 0 THEN c.net_profit_wan / c.net_assets_wan END AS inno_roe,
    c.net_assets_wan AS inno_net_assets_wan,
    c.vc_financing_wan AS inno_vc_financing_wan,
    CASE WHEN c.revenue_wan > 0 THEN c.hightech_product_revenue_wan / c.revenue_wan END
        AS inno_hightech_revenue_share,
    c.tech_contract_turnover_wan AS inno_tech_contract_turnover_wan,
    c.national_platforms + c.provincial_platforms AS inno_platforms,
    c.national_platforms AS inno_national_platforms,
    c.st_awards AS inno_st_awards,
    c.standards_drafted AS inno_standards_drafted,
    c.competition_awards AS inno_competition_awards,
    c.taxes_paid_wan AS inno_taxes_paid_wan
FROM ranked AS c
LEFT JOIN ranked AS p
    ON p.credit_code = c.credit_code
    AND p.as_of = c.as_of
    AND p.fiscal_year = c.fiscal_year - 1
WHERE c.year_rank = 1
