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
        order by updated_at desc, _export_date desc, _source_file desc, _line_number desc
    ) = 1
)

select * from deduplicated
