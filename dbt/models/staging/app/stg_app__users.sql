-- Users of customer accounts: the latest version of every user.
with

source as (
    select * from {{ source('app', 'users') }}
),

renamed as (
    select
        user_id,
        account_id,
        email,
        role,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted,
        _export_date,
        _source_file,
        _line_number,
        _batch_id,
    from source
),

deduplicated as (
    select * from renamed
    qualify row_number() over (
        partition by user_id
        order by {{ latest_version_first('updated_at') }}
    ) = 1
)

select * from deduplicated
