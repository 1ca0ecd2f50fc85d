-- sum(mrr_usd) of fct_account_mrr_monthly per month equals closing_mrr_usd, and both
-- tables cover the same months.
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

movements as (
    select * from {{ ref('mrr_movements_monthly') }}
),

summed as (
    select
        month_start,
        sum(mrr_usd) as account_mrr_usd
    from account_mrr
    group by all
)

select
    coalesce(movements.month_start, summed.month_start) as month_start,
    movements.closing_mrr_usd,
    summed.account_mrr_usd
from movements
full outer join summed
    on movements.month_start = summed.month_start
where
    movements.closing_mrr_usd is distinct from coalesce(summed.account_mrr_usd, 0)
    and not (summed.month_start is null and movements.closing_mrr_usd = 0)
