-- The plan catalog (latest version of every plan) with its monthly price terms.
with

plans as (
    select * from {{ ref('stg_billing__plans') }}
),

final as (
    select
        cast(plan_id as {{ string_type() }}) as plan_id,
        cast(plan_name as {{ string_type() }}) as plan_name,
        cast(tier as {{ string_type() }}) as tier,
        cast(billing_interval as {{ string_type() }}) as billing_interval,
        cast(interval_count as bigint) as interval_count,
        cast(months_per_interval as bigint) as months_per_interval,
        cast(unit_amount_minor as bigint) as unit_amount_minor,
        cast(currency as {{ string_type() }}) as currency,
        cast(
            round(cast(unit_amount_minor as decimal(18, 0)) / (100 * months_per_interval), 2)
            as decimal(18, 2)
        ) as monthly_amount_per_seat,
        cast(is_active as boolean) as is_active,
        cast(updated_at as {{ utc_timestamp_type() }}) as updated_at
    from plans
)

select * from final
