-- One row per trial with its account's five filter attributes (a median is not
-- additive, so trials stay rows; docs/reference/gold-metrics.md, "Metric cells").
with

subscriptions as (
    select * from {{ ref('fct_subscriptions') }}
),

attributes as (
    select * from {{ ref('dim_account_attributes') }}
),

final as (
    select
        cast(subscriptions.subscription_id as {{ string_type() }}) as subscription_id,
        cast(
            date_trunc('month', {{ at_utc(
                'coalesce(subscriptions.trial_start_at, subscriptions.started_at)'
            ) }}) as date
        ) as month_start,
        subscriptions.is_trial_converted as converted,
        not subscriptions.is_trial_converted and subscriptions.status in ('trialing')
            as is_open,
        cast(
            {{ days_between(
                'coalesce(subscriptions.trial_start_at, subscriptions.started_at)',
                'subscriptions.trial_converted_at',
            ) }} as bigint
        ) as days_to_convert,
        attributes.segment,
        attributes.country,
        attributes.tier,
        attributes.billing_interval,
        attributes.currency
    from subscriptions
    left join attributes on subscriptions.account_id = attributes.account_id
    where subscriptions.had_trial
)

select * from final
