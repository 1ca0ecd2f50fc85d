-- Invoice lines, flattened from the latest version of each invoice.
with

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

unnested as (
    select
        invoice_id,
        currency,
        unnest(
            from_json(
                coalesce(lines_json, '[]'),
                '[{"line_id": "VARCHAR", "plan_id": "VARCHAR", "quantity": "BIGINT",
                   "amount_minor": "BIGINT", "period_start": "VARCHAR",
                   "period_end": "VARCHAR", "is_proration": "BOOLEAN"}]'
            )
        ) as line,
    from invoices
),

final as (
    select
        line.line_id as invoice_line_id,
        invoice_id,
        line.plan_id as plan_id,
        line.quantity as quantity,
        line.amount_minor as amount_minor,
        currency,
        cast(line.period_start as timestamptz) as period_start_at,
        cast(line.period_end as timestamptz) as period_end_at,
        coalesce(line.is_proration, false) as is_proration,
    from unnested
)

select * from final
