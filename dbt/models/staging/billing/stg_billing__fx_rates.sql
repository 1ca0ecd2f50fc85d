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
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', ['currency', 'rate_date']) }}
)

select * from deduplicated
