-- cohort_retention is consistent: at k = 0 every account of the cohort is retained with
-- the starting MRR, and the cohort has the same size at every k.
with

cohorts as (
    select * from {{ ref('cohort_retention') }}
),

checked as (
    select
        *,
        first(cohort_customers) over (
            partition by cohort_month order by months_since_start
        ) as customers_at_start
    from cohorts
)

select * from checked
where
    (months_since_start = 0 and (
        retained_customers != cohort_customers
        or cohort_mrr_usd != cohort_starting_mrr_usd
    ))
    or cohort_customers != customers_at_start
