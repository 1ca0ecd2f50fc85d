-- A counting version whose plan is unknown, or whose currency has no rate on or before
-- its terms date, fails the build: a metric is never silently wrong. The rows say which.
with

subscription_mrr as (
    select * from {{ ref('int_subscription_mrr_monthly') }}
),

final as (
    select
        subscription_id,
        subscription_version_id,
        account_id,
        month_start,
        plan_id,
        currency,
        terms_date,
        case
            when not has_known_plan then 'unknown plan_id'
            else
                'no ' || currency || ' rate on or before '
                || cast(terms_date as {{ string_type() }})
        end as problem
    from subscription_mrr
    where not has_known_plan or usd_per_unit is null
)

select * from final
