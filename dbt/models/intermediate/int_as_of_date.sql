-- The as-of date: the latest export_date of any committed batch (empty batches
-- included). No metric extends past its month.
with

batches as (
    select * from {{ ref('stg_lakehouse__batches') }}
),

final as (
    select
        max(export_date) as as_of_date,
        cast(date_trunc('month', max(export_date)) as date) as as_of_month
    from batches
)

select * from final
