-- Daily USD rates with corrections applied: for each (currency, rate_date) the row of
-- the later export date, then the later file name, then the later line wins.
with

source as (
    select * from {{ source('billing', 'fx_rates') }}
),

renamed as (
    select
        lower(currency) as currency,
        rate_date,
        cast(usd_per_unit as decimal(18, 8)) as usd_per_unit,
        _export_date,
        _source_file,
        _line_number,
        _batch_id,
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (
        partition by currency, rate_date
        order by {{ latest_version_first() }}
    ) = 1
)

select * from deduplicated
