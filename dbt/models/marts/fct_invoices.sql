-- One row per invoice (its latest version) with its amounts in USD at the rate of the
-- invoice's creation date (greatest rate_date on or before it; USD is 1).
with

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

fx_rates as (
    select * from {{ ref('stg_billing__fx_rates') }}
),

rated as (
    select
        invoices.*,
        cast({{ at_utc('invoices.created_at') }} as date) as created_date,
        case
            when invoices.currency = 'usd' then cast(1 as decimal(18, 8))
            else fx_rates.usd_per_unit
        end as usd_per_unit
    from invoices
    {{ asof_left_join(
        'fx_rates', 'currency', left_key='invoices.currency',
        left_time='cast(' ~ at_utc('invoices.created_at') ~ ' as date)', right_time='rate_date',
    ) }}
),

final as (
    select
        cast(invoice_id as {{ string_type() }}) as invoice_id,
        cast(account_id as {{ string_type() }}) as account_id,
        cast(subscription_id as {{ string_type() }}) as subscription_id,
        cast(status as {{ string_type() }}) as status,
        cast(currency as {{ string_type() }}) as currency,
        cast(created_at as {{ utc_timestamp_type() }}) as created_at,
        cast(paid_at as {{ utc_timestamp_type() }}) as paid_at,
        cast(period_start_at as {{ utc_timestamp_type() }}) as period_start_at,
        cast(period_end_at as {{ utc_timestamp_type() }}) as period_end_at,
        cast(usd_per_unit as decimal(18, 8)) as usd_per_unit,
        {{ cents_to_dollars('total_minor', 'usd_per_unit') }} as invoiced_usd,
        {{ cents_to_dollars('tax_minor', 'usd_per_unit') }} as tax_usd,
        {{ cents_to_dollars('amount_paid_minor', 'usd_per_unit') }} as collected_usd,
        cast(
            case
                when status = 'uncollectible'
                    then {{ cents_to_dollars('(total_minor - amount_paid_minor)', 'usd_per_unit') }}
                else 0
            end as decimal(18, 2)
        ) as failed_usd,
        {{ cents_to_dollars('amount_refunded_minor', 'usd_per_unit') }} as refunded_usd,
        status = 'paid' as is_paid
    from rated
)

select * from final
