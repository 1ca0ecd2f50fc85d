-- Invoices: the latest version of every invoice; lines stay JSON here and are
-- flattened in int_billing__invoice_lines.
with

source as (
    select * from {{ source('billing', 'invoices') }}
),

renamed as (
    select
        invoice_id,
        account_id,
        subscription_id,
        status,
        lower(currency) as currency,
        created_at,
        paid_at,
        updated_at,
        period_start as period_start_at,
        period_end as period_end_at,
        cast(subtotal_minor as bigint) as subtotal_minor,
        cast(discount_minor as bigint) as discount_minor,
        cast(tax_minor as bigint) as tax_minor,
        cast(total_minor as bigint) as total_minor,
        cast(amount_paid_minor as bigint) as amount_paid_minor,
        cast(amount_refunded_minor as bigint) as amount_refunded_minor,
        lines as lines_json,
        {{ bronze_lineage_columns() }}
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', 'invoice_id', 'updated_at') }}
)

select * from deduplicated
