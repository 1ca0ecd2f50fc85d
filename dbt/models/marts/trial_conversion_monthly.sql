-- Trials by the month they started: how many converted to paying (a later version
-- with status active or past_due), lapsed (ended without paying) or are still open.
with

subscriptions as (
    select * from {{ ref('fct_subscriptions') }}
),

trials as (
    select
        cast(
            date_trunc('month', {{ at_utc('coalesce(trial_start_at, started_at)') }})
            as date
        ) as trial_month,
        is_trial_converted,
        not is_trial_converted and status in ('trialing') as is_open,
        {{ days_between('coalesce(trial_start_at, started_at)', 'trial_converted_at') }}
            as days_to_convert
    from subscriptions
    where had_trial
),

final as (
    select
        trial_month as month_start,
        cast(count(*) as bigint) as trials_started,
        cast(count(*) filter (where is_trial_converted) as bigint) as trials_converted,
        cast(count(*) filter (where not is_trial_converted and not is_open) as bigint)
            as trials_lapsed,
        cast(count(*) filter (where is_open) as bigint) as trials_open,
        cast(count(*) filter (where is_trial_converted) as double)
        / nullif(count(*) filter (where not is_open), 0) as conversion_rate,
        cast(median(days_to_convert) as double) as median_days_to_convert
    from trials
    group by all
)

select * from final
