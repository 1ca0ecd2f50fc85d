-- The plan catalog: the latest version of every plan (docs/reference/landing-contract.md version
-- order).
with

source as (
    select * from {{ source('billing', 'plans') }}
),

renamed as (
    select
        plan_id,
        plan_name,
        tier,
        billing_interval,
        cast(interval_count as bigint) as interval_count,
        case billing_interval
            when 'year' then 12 * interval_count
            else interval_count
        end as months_per_interval,
        cast(unit_amount_minor as bigint) as unit_amount_minor,
        lower(currency) as currency,
        is_active,
        updated_at,
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', 'plan_id', 'updated_at') }}
)

select * from deduplicated
