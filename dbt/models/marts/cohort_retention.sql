-- Cohort x months since start: an account's cohort is its first month with MRR > 0;
-- one row for every cohort and every k >= 0 up to the as-of month (every account has a
-- row in fct_account_mrr_monthly for each of those months).
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

by_cohort_month as (
    select
        cohort_month,
        {{ months_between_starts('cohort_month', 'month_start') }} as months_since_start,
        count(*) as cohort_customers,
        count(*) filter (where mrr_usd > 0) as retained_customers,
        sum(mrr_usd) as cohort_mrr_usd
    from account_mrr
    group by all
),

with_start as (
    select
        *,
        first(cohort_mrr_usd) over (
            partition by cohort_month order by months_since_start
        ) as cohort_starting_mrr_usd
    from by_cohort_month
),

final as (
    select
        cast(cohort_month as date) as cohort_month,
        cast(months_since_start as integer) as months_since_start,
        cast(cohort_customers as bigint) as cohort_customers,
        cast(retained_customers as bigint) as retained_customers,
        cast(retained_customers as double) / nullif(cohort_customers, 0)
            as logo_retention_rate,
        cast(cohort_starting_mrr_usd as decimal(18, 2)) as cohort_starting_mrr_usd,
        cast(cohort_mrr_usd as decimal(18, 2)) as cohort_mrr_usd,
        cast(cohort_mrr_usd as double) / nullif(cast(cohort_starting_mrr_usd as double), 0)
            as net_mrr_retention_rate
    from with_start
)

select * from final
