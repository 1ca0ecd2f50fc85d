-- Month: MRR bridge and customer counts, from the first month with MRR > 0 through the
-- as-of month, summed from the rounded account MRRs of fct_account_mrr_monthly.
-- Contraction and churn are positive magnitudes; closing = opening + new + expansion
-- + reactivation - contraction - churned holds exactly.
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

bounds as (
    select
        min(account_mrr.month_start) as first_month,
        any_value(as_of.as_of_month) as as_of_month
    from account_mrr
    cross join as_of
    having count(*) > 0
),

months as (
    select {{ month_starts('first_month', 'as_of_month') }} as month_start
    from bounds
),

aggregated as (
    select
        month_start,
        sum(previous_mrr_usd) as opening_mrr_usd,
        sum(case when movement = 'new' then mrr_usd else 0 end) as new_mrr_usd,
        sum(case when movement = 'expansion' then mrr_change_usd else 0 end)
            as expansion_mrr_usd,
        sum(case when movement = 'reactivation' then mrr_usd else 0 end)
            as reactivation_mrr_usd,
        sum(case when movement = 'contraction' then -mrr_change_usd else 0 end)
            as contraction_mrr_usd,
        sum(case when movement = 'churn' then previous_mrr_usd else 0 end)
            as churned_mrr_usd,
        sum(mrr_usd) as closing_mrr_usd,
        count(*) filter (where previous_mrr_usd > 0) as customers_opening,
        count(*) filter (where movement = 'new') as customers_new,
        count(*) filter (where movement = 'reactivation') as customers_reactivated,
        count(*) filter (where movement = 'churn') as customers_churned,
        count(*) filter (where mrr_usd > 0) as customers_closing
    from account_mrr
    group by all
),

final as (
    select
        months.month_start,
        cast(coalesce(aggregated.opening_mrr_usd, 0) as decimal(18, 2)) as opening_mrr_usd,
        cast(coalesce(aggregated.new_mrr_usd, 0) as decimal(18, 2)) as new_mrr_usd,
        cast(coalesce(aggregated.expansion_mrr_usd, 0) as decimal(18, 2)) as expansion_mrr_usd,
        cast(coalesce(aggregated.reactivation_mrr_usd, 0) as decimal(18, 2))
            as reactivation_mrr_usd,
        cast(coalesce(aggregated.contraction_mrr_usd, 0) as decimal(18, 2))
            as contraction_mrr_usd,
        cast(coalesce(aggregated.churned_mrr_usd, 0) as decimal(18, 2)) as churned_mrr_usd,
        cast(coalesce(aggregated.closing_mrr_usd, 0) as decimal(18, 2)) as closing_mrr_usd,
        coalesce(aggregated.customers_opening, 0) as customers_opening,
        coalesce(aggregated.customers_new, 0) as customers_new,
        coalesce(aggregated.customers_reactivated, 0) as customers_reactivated,
        coalesce(aggregated.customers_churned, 0) as customers_churned,
        coalesce(aggregated.customers_closing, 0) as customers_closing
    from months
    left join aggregated
        on months.month_start = aggregated.month_start
)

select * from final
