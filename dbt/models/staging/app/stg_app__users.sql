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
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', 'user_id', 'updated_at') }}
)

select * from deduplicated
