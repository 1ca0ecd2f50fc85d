-- The committed Bronze batches (the manifest), one row per batch, empty ones included.
with

source as (
    select * from {{ source('lakehouse', 'batches') }}
),

renamed as (
    select
        batch_id,
        source as source_system,
        entity,
        export_date,
        landing_file,
        input_rows,
        landed_rows,
        quarantined_rows,
        bronze_file,
        bronze_file is null as is_empty
    from source
)

select * from renamed
