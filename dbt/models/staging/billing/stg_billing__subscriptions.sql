-- Subscription history as validity intervals: one row per distinct version
-- (subscription_id, updated_at), valid from its updated_at until the next version's.
-- Several rows with the same updated_at are one version: the later export date, then
-- the later file name, then the later line wins (docs/reference/landing-contract.md,
-- docs/reference/gold-metrics.md).
with

source as (
    select * from {{ source('billing', 'subscriptions') }}
),

renamed as (
    select
        subscription_id,
        account_id,
        plan_id,
        cast(quantity as bigint) as quantity,
        status,
        trial_start as trial_start_at,
        trial_end as trial_end_at,
        started_at,
        current_period_start as current_period_start_at,
        current_period_end as current_period_end_at,
        cancel_at_period_end,
        canceled_at,
        ended_at,
        cast(discount_percent as double) as discount_percent,
        created_at,
        updated_at,
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', ['subscription_id', 'updated_at']) }}
),

intervals as (
    select
        *,
        updated_at as valid_from,
        lead(updated_at) over (
            partition by subscription_id order by updated_at
        ) as valid_to,
        row_number() over (
            partition by subscription_id order by updated_at
        ) as version_number
    from deduplicated
),

final as (
    select
        subscription_id || '@' || {{ iso_utc_text('updated_at') }}
            as subscription_version_id,
        *,
        valid_to is null as is_current_version
    from intervals
)

select * from final
