-- The plan catalog: the latest version of every plan (SOURCES.md version order).
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
        _export_date,
        _source_file,
        _line_number,
        _batch_id,
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (
        partition by plan_id
        order by {{ latest_version_first('updated_at') }}
    ) = 1
)

select * from deduplicated
