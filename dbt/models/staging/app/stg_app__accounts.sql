-- Customer accounts: the latest version of every account.
with

source as (
    select * from {{ source('app', 'accounts') }}
),

renamed as (
    select
        account_id,
        account_name,
        upper(country_code) as country_code,
        segment,
        industry,
        acquisition_channel,
        created_at,
        updated_at,
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', 'account_id', 'updated_at') }}
)

select * from deduplicated
