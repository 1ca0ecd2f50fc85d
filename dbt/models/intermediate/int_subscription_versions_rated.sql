-- Every subscription version with what docs/reference/gold-metrics.md needs to rate it: whether its
-- status counts for MRR, its plan's price terms, its terms_date and the USD rate of that day.
--
-- terms_date: the UTC date of the updated_at of the earliest version in the unbroken
-- run of versions (ordered by updated_at) that all count (active or past_due) and share
-- this version's plan_id, quantity and discount_percent. A run starts at a counting
-- version whose predecessor does not count or has other terms.
--
-- mrr_numerator = unit_amount_minor * quantity * (100 - discount_percent) * usd_per_unit,
-- exact (DECIMAL); the version's MRR in USD is mrr_numerator / (10000 * months_per_interval).
with

subscriptions as (
    select * from {{ ref('stg_billing__subscriptions') }}
),

plans as (
    select * from {{ ref('stg_billing__plans') }}
),

fx_rates as (
    select * from {{ ref('stg_billing__fx_rates') }}
),

versions as (
    select
        subscriptions.subscription_version_id,
        subscriptions.subscription_id,
        subscriptions.account_id,
        subscriptions.plan_id,
        subscriptions.quantity,
        subscriptions.discount_percent,
        subscriptions.status,
        subscriptions.ended_at,
        subscriptions.updated_at,
        subscriptions.valid_from,
        subscriptions.valid_to,
        subscriptions.version_number,
        subscriptions.status in ('active', 'past_due') as is_counting_status,
        plans.plan_id is not null as has_known_plan,
        plans.currency,
        plans.unit_amount_minor,
        plans.months_per_interval
    from subscriptions
    left join plans
        on subscriptions.plan_id = plans.plan_id
),

run_starts as (
    select
        *,
        case
            when
                is_counting_status
                and (
                    coalesce(lag(is_counting_status) over by_version, false) = false
                    or lag(plan_id) over by_version is distinct from plan_id
                    or lag(quantity) over by_version is distinct from quantity
                    or lag(discount_percent) over by_version is distinct from discount_percent
                )
                then 1
            else 0
        end as is_terms_start
    from versions
    window by_version as (partition by subscription_id order by updated_at)
),

runs as (
    select
        *,
        sum(is_terms_start) over (
            partition by subscription_id
            order by updated_at
            rows between unbounded preceding and current row
        ) as terms_run_number
    from run_starts
),

terms_dated as (
    select
        *,
        case
            when is_counting_status
                then cast(
                    {{ at_utc(
                        'min(updated_at) over (partition by subscription_id, terms_run_number)'
                    ) }} as date
                )
        end as terms_date
    from runs
),

rated as (
    select
        terms_dated.*,
        case
            when terms_dated.currency = 'usd' then cast(1 as decimal(18, 8))
            else fx_rates.usd_per_unit
        end as usd_per_unit,
        case
            when terms_dated.currency = 'usd' then terms_dated.terms_date
            else fx_rates.rate_date
        end as fx_rate_date
    from terms_dated
    {{ asof_left_join(
        'fx_rates', 'currency', left_key='terms_dated.currency',
        left_time='terms_dated.terms_date', right_time='rate_date',
    ) }}
),

final as (
    select
        subscription_version_id,
        subscription_id,
        account_id,
        plan_id,
        quantity,
        discount_percent,
        status,
        ended_at,
        updated_at,
        valid_from,
        valid_to,
        version_number,
        is_counting_status,
        has_known_plan,
        currency,
        unit_amount_minor,
        months_per_interval,
        terms_run_number,
        terms_date,
        usd_per_unit,
        fx_rate_date,
        case
            when is_counting_status
                then
                    cast(unit_amount_minor as decimal(38, 0))
                    * quantity
                    * (100 - cast(discount_percent as decimal(7, 4)))
                    * usd_per_unit
        end as mrr_numerator
    from rated
)

select * from final
