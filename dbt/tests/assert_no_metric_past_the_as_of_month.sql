-- No metric extends past the as-of month; every account has one row per month from its
-- cohort month through the as-of month.
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

movements as (
    select * from {{ ref('mrr_movements_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

future_rows as (
    select
        'fct_account_mrr_monthly' as model_name,
        account_mrr.account_id,
        account_mrr.month_start
    from account_mrr
    cross join as_of
    where account_mrr.month_start > as_of.as_of_month
    union all
    select
        'mrr_movements_monthly' as model_name,
        null as account_id,
        movements.month_start
    from movements
    cross join as_of
    where movements.month_start > as_of.as_of_month
),

gaps as (
    select
        'fct_account_mrr_monthly: missing months' as model_name,
        account_mrr.account_id,
        min(account_mrr.month_start) as month_start
    from account_mrr
    cross join as_of
    group by account_mrr.account_id, as_of.as_of_month
    having
        count(*)
        != {{ months_between_starts(
            'min(account_mrr.month_start)', 'any_value(as_of.as_of_month)'
        ) }} + 1
)

select * from future_rows
union all
select * from gaps
