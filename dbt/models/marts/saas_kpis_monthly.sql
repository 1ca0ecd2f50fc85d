-- Month: SaaS KPIs from the MRR bridge. Ratios are DOUBLE and null when their
-- denominator is 0; arpa_usd is MRR / paying customers rounded half up to cents.
-- nrr_12m / grr_12m: over the accounts with MRR > 0 in M-12, their MRR in M (for GRR
-- capped at their MRR in M-12) over their MRR in M-12; null when M-12 is before the
-- first month.
with

movements as (
    select * from {{ ref('mrr_movements_monthly') }}
),

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

first_month as (
    select min(month_start) as first_month from movements
),

retention_12m as (
    select
        current_month.month_start,
        sum(base.mrr_usd) as base_mrr_usd,
        sum(coalesce(current_month.mrr_usd, 0)) as retained_mrr_usd,
        sum(least(coalesce(current_month.mrr_usd, 0), base.mrr_usd)) as capped_mrr_usd
    from account_mrr as base
    inner join account_mrr as current_month
        on
            base.account_id = current_month.account_id
            and current_month.month_start = cast(base.month_start + interval 12 month as date)
    where base.mrr_usd > 0
    group by all
),

kpis as (
    select
        movements.month_start,
        movements.closing_mrr_usd as mrr_usd,
        movements.closing_mrr_usd * 12 as arr_usd,
        movements.customers_closing as paying_customers,
        case
            when movements.customers_closing > 0
                then {{ integer_divide(
                    '(2 * cast(movements.closing_mrr_usd * 100 as ' ~ wide_integer_type()
                    ~ ') + movements.customers_closing)',
                    '(2 * movements.customers_closing)',
                ) }}
        end as arpa_cents,
        cast(movements.customers_churned as double)
        / nullif(movements.customers_opening, 0) as logo_churn_rate,
        cast(movements.churned_mrr_usd + movements.contraction_mrr_usd as double)
        / nullif(cast(movements.opening_mrr_usd as double), 0) as gross_mrr_churn_rate,
        cast(
            movements.churned_mrr_usd + movements.contraction_mrr_usd
            - movements.expansion_mrr_usd - movements.reactivation_mrr_usd as double
        )
        / nullif(cast(movements.opening_mrr_usd as double), 0) as net_mrr_churn_rate,
        cast(
            movements.new_mrr_usd + movements.expansion_mrr_usd
            + movements.reactivation_mrr_usd as double
        )
        / nullif(
            cast(movements.churned_mrr_usd + movements.contraction_mrr_usd as double), 0
        ) as quick_ratio,
        case
            when
                cast(movements.month_start - interval 12 month as date)
                >= first_month.first_month
                then
                    cast(retention_12m.retained_mrr_usd as double)
                    / nullif(cast(retention_12m.base_mrr_usd as double), 0)
        end as nrr_12m,
        case
            when
                cast(movements.month_start - interval 12 month as date)
                >= first_month.first_month
                then
                    cast(retention_12m.capped_mrr_usd as double)
                    / nullif(cast(retention_12m.base_mrr_usd as double), 0)
        end as grr_12m
    from movements
    cross join first_month
    left join retention_12m
        on movements.month_start = retention_12m.month_start
),

final as (
    select
        cast(month_start as date) as month_start,
        cast(mrr_usd as decimal(18, 2)) as mrr_usd,
        cast(arr_usd as decimal(18, 2)) as arr_usd,
        cast(paying_customers as bigint) as paying_customers,
        {{ cents_to_dollars('arpa_cents') }} as arpa_usd,
        cast(logo_churn_rate as double) as logo_churn_rate,
        cast(gross_mrr_churn_rate as double) as gross_mrr_churn_rate,
        cast(net_mrr_churn_rate as double) as net_mrr_churn_rate,
        cast(quick_ratio as double) as quick_ratio,
        cast(nrr_12m as double) as nrr_12m,
        cast(grr_12m as double) as grr_12m
    from kpis
)

select * from final
