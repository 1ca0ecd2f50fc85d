-- opening(M) = closing(M-1), to the cent (the first month opens at 0).
with

movements as (
    select * from {{ ref('mrr_movements_monthly') }}
),

compared as (
    select
        month_start,
        opening_mrr_usd,
        customers_opening,
        lag(closing_mrr_usd, 1, 0) over (order by month_start) as previous_closing_mrr_usd,
        lag(customers_closing, 1, 0) over (order by month_start) as previous_customers_closing
    from movements
)

select * from compared
where
    opening_mrr_usd != previous_closing_mrr_usd
    or customers_opening != previous_customers_closing
