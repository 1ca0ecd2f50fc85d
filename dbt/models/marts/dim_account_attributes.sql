-- One row per account: the five attributes a metric filter selects accounts by. Segment
-- and country come from dim_accounts; tier, billing interval and currency from the
-- account's primary plan: the plan of its subscription that contributes most MRR at the
-- as-of date, else of its most recently started subscription (ties: the subscription id).
with

accounts as (
    select * from {{ ref('dim_accounts') }}
),

subscriptions as (
    select * from {{ ref('fct_subscriptions') }}
),

plans as (
    select * from {{ ref('dim_plans') }}
),

ranked as (
    select
        account_id,
        plan_id,
        row_number() over (
            partition by account_id
            order by
                coalesce(is_contributing_mrr, false) desc,
                coalesce(current_mrr_usd, 0) desc,
                started_at desc nulls last,
                subscription_id desc
        ) as plan_rank
    from subscriptions
),

primary_plans as (
    select
        ranked.account_id,
        plans.tier,
        plans.billing_interval,
        plans.currency
    from ranked
    left join plans on ranked.plan_id = plans.plan_id
    where ranked.plan_rank = 1
),

final as (
    select
        cast(accounts.account_id as {{ string_type() }}) as account_id,
        cast(accounts.segment as {{ string_type() }}) as segment,
        cast(accounts.country_code as {{ string_type() }}) as country,
        cast(primary_plans.tier as {{ string_type() }}) as tier,
        cast(primary_plans.billing_interval as {{ string_type() }}) as billing_interval,
        cast(primary_plans.currency as {{ string_type() }}) as currency
    from accounts
    left join primary_plans on accounts.account_id = primary_plans.account_id
)

select * from final
