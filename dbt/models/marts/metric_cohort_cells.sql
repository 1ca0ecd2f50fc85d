-- Cohort month x months since start x the five filter attributes: accounts, accounts
-- still paying and their MRR (docs/reference/gold-metrics.md, "Metric cells").
with

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

attributes as (
    select * from {{ ref('dim_account_attributes') }}
),

final as (
    select
        cast(account_mrr.cohort_month as date) as cohort_month,
        cast(
            {{ months_between_starts('account_mrr.cohort_month', 'account_mrr.month_start') }}
            as integer
        )
            as months_since_start,
        attributes.segment,
        attributes.country,
        attributes.tier,
        attributes.billing_interval,
        attributes.currency,
        cast(count(account_mrr.account_id) as bigint) as cohort_customers,
        cast(count_if(account_mrr.mrr_usd > 0) as bigint) as retained_customers,
        cast(sum(account_mrr.mrr_usd) as decimal(18, 2)) as cohort_mrr_usd
    from account_mrr
    left join attributes on account_mrr.account_id = attributes.account_id
    group by all
)

select * from final
