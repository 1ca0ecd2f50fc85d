{#- This model was staging/stg_billing__invoice_lines: drop the table of that name in a
    lakehouse built before the rename, in the same transaction (remove once every
    lakehouse has been rebuilt). -#}
{{ config(
    pre_hook="drop table if exists "
        ~ "{{ this.incorporate(path={'identifier': 'stg_billing__invoice_lines'}) }}",
) }}
-- Invoice lines, flattened from the latest version of each invoice. An intermediate
-- model: it reads the staging model stg_billing__invoices, not a Bronze source.
with

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

unnested as (
    select
        invoice_id,
        currency,
        {{ unnest_json_array("coalesce(lines_json, '[]')", [
            ('line_id', 'VARCHAR'), ('plan_id', 'VARCHAR'), ('quantity', 'BIGINT'),
            ('amount_minor', 'BIGINT'), ('period_start', 'VARCHAR'),
            ('period_end', 'VARCHAR'), ('is_proration', 'BOOLEAN'),
        ]) }} as invoice_line
    from invoices
),

final as (
    select
        invoice_line.line_id as invoice_line_id,
        unnested.invoice_id,
        invoice_line.plan_id,
        invoice_line.quantity,
        invoice_line.amount_minor,
        unnested.currency,
        cast(invoice_line.period_start as {{ utc_timestamp_type() }}) as period_start_at,
        cast(invoice_line.period_end as {{ utc_timestamp_type() }}) as period_end_at,
        coalesce(invoice_line.is_proration, false) as is_proration
    from unnested
)

select * from final
