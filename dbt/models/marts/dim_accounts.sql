-- Every account: those app/accounts lists and those that only billing knows (MRR
-- belongs to the account_id of the subscription version, listed or not).
with

accounts as (
    select * from {{ ref('stg_app__accounts') }}
),

subscriptions as (
    select * from {{ ref('stg_billing__subscriptions') }}
),

account_mrr as (
    select * from {{ ref('fct_account_mrr_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

billing_accounts as (
    select distinct account_id from subscriptions
),

all_accounts as (
    select account_id from accounts
    union
    select account_id from billing_accounts
),

mrr_summary as (
    select
        account_mrr.account_id,
        min(account_mrr.cohort_month) as cohort_month,
        max(case when account_mrr.month_start = as_of.as_of_month then account_mrr.mrr_usd end)
            as current_mrr_usd,
        max(account_mrr.month_start) filter (where account_mrr.is_active) as last_paying_month
    from account_mrr
    cross join as_of
    group by all
),

final as (
    select
        cast(all_accounts.account_id as {{ string_type() }}) as account_id,
        cast(accounts.account_name as {{ string_type() }}) as account_name,
        cast(accounts.country_code as {{ string_type() }}) as country_code,
        cast(accounts.segment as {{ string_type() }}) as segment,
        cast(accounts.industry as {{ string_type() }}) as industry,
        cast(accounts.acquisition_channel as {{ string_type() }}) as acquisition_channel,
        cast(accounts.created_at as {{ utc_timestamp_type() }}) as created_at,
        accounts.account_id is not null as is_listed_in_app,
        billing_accounts.account_id is not null as has_subscriptions,
        cast(mrr_summary.cohort_month as date) as cohort_month,
        cast(mrr_summary.last_paying_month as date) as last_paying_month,
        cast(coalesce(mrr_summary.current_mrr_usd, 0) as decimal(18, 2)) as current_mrr_usd,
        coalesce(mrr_summary.current_mrr_usd, 0) > 0 as is_paying
    from all_accounts
    left join accounts
        on all_accounts.account_id = accounts.account_id
    left join billing_accounts
        on all_accounts.account_id = billing_accounts.account_id
    left join mrr_summary
        on all_accounts.account_id = mrr_summary.account_id
)

select * from final
