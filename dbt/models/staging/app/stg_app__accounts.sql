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
        _export_date,
        _source_file,
        _line_number,
        _batch_id,
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (
        partition by account_id
        order by {{ latest_version_first('updated_at') }}
    ) = 1
)

select * from deduplicated
