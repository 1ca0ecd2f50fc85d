-- Cohort sizes sum to the number of accounts with a `new` movement.
with

cohorts as (
    select * from {{ ref('cohort_retention') }}
),

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

cohort_total as (
    select coalesce(sum(cohort_customers), 0) as customers
    from cohorts
    where months_since_start = 0
),

new_total as (
    select count(*) as customers
    from account_mrr
    where movement = 'new'
)

select
    cohort_total.customers as cohort_customers,
    new_total.customers as new_customers
from cohort_total
cross join new_total
where cohort_total.customers != new_total.customers
