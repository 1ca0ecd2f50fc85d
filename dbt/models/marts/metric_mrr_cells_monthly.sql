-- Month x the five filter attributes: the MRR bridge and 12-month retention sums of the
-- accounts in the cell (docs/reference/gold-metrics.md, "Metric cells"). Every metric of
-- a filtered slice is a ratio of these sums added over the cells the filter accepts.
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

attributes as (
    select * from {{ ref('dim_account_attributes') }}
),

-- The account's MRR twelve months before, where it paid then.
with_base as (
    select
        account_mrr.*,
        earlier.mrr_usd as base_mrr_usd
    from account_mrr
    left join account_mrr as earlier
        on
            account_mrr.account_id = earlier.account_id
            and account_mrr.month_start = cast(earlier.month_start + interval 12 month as date)
            and earlier.mrr_usd > 0
),

cells as (
    select
        with_base.month_start,
        attributes.segment,
        attributes.country,
        attributes.tier,
        attributes.billing_interval,
        attributes.currency,
        sum(with_base.previous_mrr_usd) as opening_mrr_usd,
        sum(case when with_base.movement = 'new' then with_base.mrr_usd else 0 end)
            as new_mrr_usd,
        sum(case when with_base.movement = 'expansion' then with_base.mrr_change_usd else 0 end)
            as expansion_mrr_usd,
        sum(case when with_base.movement = 'reactivation' then with_base.mrr_usd else 0 end)
            as reactivation_mrr_usd,
        sum(
            case when with_base.movement = 'contraction' then -with_base.mrr_change_usd else 0 end
        ) as contraction_mrr_usd,
        sum(case when with_base.movement = 'churn' then with_base.previous_mrr_usd else 0 end)
            as churned_mrr_usd,
        sum(with_base.mrr_usd) as closing_mrr_usd,
        count_if(with_base.previous_mrr_usd > 0) as customers_opening,
        count_if(with_base.movement = 'new') as customers_new,
        count_if(with_base.movement = 'reactivation') as customers_reactivated,
        count_if(with_base.movement = 'churn') as customers_churned,
        count_if(with_base.mrr_usd > 0) as customers_closing,
        -- NULL, not 0, where no account of the cell paid twelve months before, so that a
        -- slice without any such account has no NRR/GRR.
        sum(with_base.base_mrr_usd) as base_mrr_usd,
        sum(case when with_base.base_mrr_usd is not null then with_base.mrr_usd end)
            as retained_mrr_usd,
        sum(
            case
                when with_base.base_mrr_usd is not null
                    then least(with_base.mrr_usd, with_base.base_mrr_usd)
            end
        ) as capped_mrr_usd
    from with_base
    left join attributes on with_base.account_id = attributes.account_id
    group by all
),

final as (
    select
        cast(month_start as date) as month_start,
        segment,
        country,
        tier,
        billing_interval,
        currency,
        cast(opening_mrr_usd as decimal(18, 2)) as opening_mrr_usd,
        cast(new_mrr_usd as decimal(18, 2)) as new_mrr_usd,
        cast(expansion_mrr_usd as decimal(18, 2)) as expansion_mrr_usd,
        cast(reactivation_mrr_usd as decimal(18, 2)) as reactivation_mrr_usd,
        cast(contraction_mrr_usd as decimal(18, 2)) as contraction_mrr_usd,
        cast(churned_mrr_usd as decimal(18, 2)) as churned_mrr_usd,
        cast(closing_mrr_usd as decimal(18, 2)) as closing_mrr_usd,
        cast(customers_opening as bigint) as customers_opening,
        cast(customers_new as bigint) as customers_new,
        cast(customers_reactivated as bigint) as customers_reactivated,
        cast(customers_churned as bigint) as customers_churned,
        cast(customers_closing as bigint) as customers_closing,
        cast(base_mrr_usd as decimal(18, 2)) as base_mrr_usd,
        cast(retained_mrr_usd as decimal(18, 2)) as retained_mrr_usd,
        cast(capped_mrr_usd as decimal(18, 2)) as capped_mrr_usd
    from cells
)

select * from final
