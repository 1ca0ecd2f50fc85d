-- One row per subscription: its current state, lifecycle dates, trial conversion,
-- price-terms changes and lifetime, as known at the as-of date.
with

versions as (
    select * from {{ ref('int_subscription_versions_rated') }}
),

subscriptions as (
    select * from {{ ref('stg_billing__subscriptions') }}
),

subscription_mrr as (
    select * from {{ ref('int_subscription_mrr_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

current_versions as (
    select * from subscriptions
    where is_current_version
),

lifecycle as (
    select
        subscription_id,
        count(*) as version_count,
        min(updated_at) filter (where status = 'trialing') as first_trialing_at,
        min(updated_at) filter (where is_counting_status) as first_paying_at,
        count(distinct terms_run_number) filter (where is_counting_status) as terms_count
    from versions
    group by all
),

conversions as (
    select
        lifecycle.subscription_id,
        min(versions.updated_at) as converted_at
    from lifecycle
    inner join versions
        on
            lifecycle.subscription_id = versions.subscription_id
            and versions.is_counting_status
            and lifecycle.first_trialing_at < versions.updated_at
    group by all
),

latest_mrr as (
    select
        subscription_mrr.subscription_id,
        subscription_mrr.mrr_usd_unrounded
    from subscription_mrr
    cross join as_of
    where subscription_mrr.month_start = as_of.as_of_month
),

final as (
    select
        cast(current_versions.subscription_id as {{ string_type() }}) as subscription_id,
        cast(current_versions.account_id as {{ string_type() }}) as account_id,
        cast(current_versions.plan_id as {{ string_type() }}) as plan_id,
        cast(current_versions.status as {{ string_type() }}) as status,
        cast(current_versions.quantity as bigint) as quantity,
        cast(current_versions.discount_percent as double) as discount_percent,
        cast(current_versions.created_at as {{ utc_timestamp_type() }}) as created_at,
        cast(current_versions.started_at as {{ utc_timestamp_type() }}) as started_at,
        cast(current_versions.trial_start_at as {{ utc_timestamp_type() }}) as trial_start_at,
        cast(current_versions.trial_end_at as {{ utc_timestamp_type() }}) as trial_end_at,
        lifecycle.first_trialing_at is not null
        or current_versions.trial_start_at is not null as had_trial,
        conversions.converted_at is not null as is_trial_converted,
        cast(conversions.converted_at as {{ utc_timestamp_type() }}) as trial_converted_at,
        cast(lifecycle.first_paying_at as {{ utc_timestamp_type() }}) as first_paying_at,
        cast(current_versions.canceled_at as {{ utc_timestamp_type() }}) as canceled_at,
        cast(current_versions.ended_at as {{ utc_timestamp_type() }}) as ended_at,
        cast(current_versions.cancel_at_period_end as boolean) as cancel_at_period_end,
        cast(lifecycle.version_count as bigint) as version_count,
        cast(greatest(lifecycle.terms_count - 1, 0) as bigint) as price_terms_change_count,
        cast(
            {{ days_between(
                'cast(' ~ at_utc('current_versions.started_at') ~ ' as date)',
                'least(coalesce(cast(' ~ at_utc('current_versions.ended_at') ~ ' as date),'
                ~ ' as_of.as_of_date), as_of.as_of_date)',
            ) }} as bigint
        ) as lifetime_days,
        cast(round(coalesce(latest_mrr.mrr_usd_unrounded, 0), 2) as decimal(18, 2))
            as current_mrr_usd,
        coalesce(latest_mrr.mrr_usd_unrounded, 0) > 0 as is_contributing_mrr
    from current_versions
    cross join as_of
    inner join lifecycle
        on current_versions.subscription_id = lifecycle.subscription_id
    left join conversions
        on current_versions.subscription_id = conversions.subscription_id
    left join latest_mrr
        on current_versions.subscription_id = latest_mrr.subscription_id
)

select * from final
