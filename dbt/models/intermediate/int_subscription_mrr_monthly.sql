-- Subscription x month: the version in effect at the month's snapshot instant, kept
-- when it contributes MRR (status active or past_due and ended_at null or at/after the
-- instant). The snapshot instant of a month ends with its last day; for the as-of month
-- with the as-of date. snapshot_before is B of docs/reference/gold-metrics.md: 00:00Z of the day
-- after.
with

versions as (
    select * from {{ ref('int_subscription_versions_rated') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

bounds as (
    select
        cast(date_trunc('month', min({{ at_utc('versions.valid_from') }})) as date)
            as first_month,
        any_value(as_of.as_of_month) as as_of_month,
        any_value(as_of.as_of_date) as as_of_date
    from versions
    cross join as_of
    where versions.is_counting_status
    having count(*) > 0
),

months as (
    select
        {{ month_starts('first_month', 'as_of_month') }} as month_start,
        as_of_month,
        as_of_date
    from bounds
    where first_month <= as_of_month
),

snapshots as (
    select
        month_start,
        case
            when month_start = as_of_month then as_of_date + 1
            else cast(month_start + interval 1 month as date)
        end as snapshot_before_date,
        {{ at_utc('cast(snapshot_before_date as timestamp)') }} as snapshot_before
    from months
),

in_effect as (
    select
        snapshots.month_start,
        snapshots.snapshot_before,
        versions.*
    from snapshots
    inner join versions
        on
            snapshots.snapshot_before > versions.valid_from
            and (versions.valid_to is null or snapshots.snapshot_before <= versions.valid_to)
),

counting as (
    select * from in_effect
    where
        is_counting_status
        and (ended_at is null or ended_at >= snapshot_before)
),

final as (
    select
        subscription_id,
        month_start,
        snapshot_before,
        account_id,
        subscription_version_id,
        plan_id,
        has_known_plan,
        status,
        quantity,
        discount_percent,
        currency,
        unit_amount_minor,
        months_per_interval,
        terms_date,
        usd_per_unit,
        fx_rate_date,
        mrr_numerator,
        cast(mrr_numerator as double) / (10000 * months_per_interval) as mrr_usd_unrounded
    from counting
)

select * from final
