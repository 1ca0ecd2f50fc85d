-- Account x month MRR in USD, from the account's first month with MRR > 0 through the
-- as-of month, with the month's movement (docs/reference/gold-metrics.md).
--
-- An account's MRR is the exact sum over its subscriptions, rounded half up to cents
-- once: each subscription contributes mrr_numerator / (10000 * months_per_interval), so
-- the sum is computed in integers over the least common multiple of the accounts'
-- months_per_interval (HUGEINT), never in floating point.
with

subscription_mrr as (
    select * from {{ ref('int_subscription_mrr_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

by_interval as (
    select
        account_id,
        month_start,
        months_per_interval,
        cast(sum(mrr_numerator) * 1000000000000 as {{ wide_integer_type() }}) as numerator_scaled
    from subscription_mrr
    group by all
),

with_common_months as (
    select
        *,
        -- sqlfluff's DuckDB dialect cannot parse a lambda of two parameters (`lambda a, b:
        -- ...`, DuckDB's own syntax, which the macro writes): PRS is silenced on this line.
        {{ common_multiple_over('months_per_interval', 'account_id, month_start') }}  -- noqa: PRS
            as common_months
    from by_interval
),

account_month_cents as (
    select
        account_id,
        month_start,
        sum(
            numerator_scaled
            * ({{ integer_divide('common_months', 'months_per_interval') }})
        ) as numerator_total,
        cast(any_value(common_months) as {{ wide_integer_type() }})
        * 100 * 1000000000000 as denominator
    from with_common_months
    group by all
),

account_month as (
    select
        account_id,
        month_start,
        {{ integer_divide('(2 * numerator_total + denominator)', '(2 * denominator)') }}
            as mrr_cents
    from account_month_cents
),

cohorts as (
    select
        account_id,
        min(month_start) as cohort_month
    from account_month
    where mrr_cents > 0
    group by all
),

spine as (
    select
        cohorts.account_id,
        cohorts.cohort_month,
        {{ month_starts('cohorts.cohort_month', 'as_of.as_of_month') }} as month_start
    from cohorts
    cross join as_of
),

filled as (
    select
        spine.account_id,
        spine.month_start,
        spine.cohort_month,
        coalesce(account_month.mrr_cents, 0) as mrr_cents,
        coalesce(
            lag(account_month.mrr_cents) over (
                partition by spine.account_id order by spine.month_start
            ),
            0
        ) as previous_mrr_cents
    from spine
    left join account_month
        on
            spine.account_id = account_month.account_id
            and spine.month_start = account_month.month_start
),

classified as (
    select
        *,
        case
            when previous_mrr_cents = 0 and mrr_cents > 0 and month_start = cohort_month
                then 'new'
            when previous_mrr_cents = 0 and mrr_cents > 0 then 'reactivation'
            when previous_mrr_cents > 0 and mrr_cents > previous_mrr_cents then 'expansion'
            when previous_mrr_cents > 0 and mrr_cents > 0 and mrr_cents < previous_mrr_cents
                then 'contraction'
            when previous_mrr_cents > 0 and mrr_cents = 0 then 'churn'
            when previous_mrr_cents > 0 and mrr_cents = previous_mrr_cents then 'unchanged'
            else 'inactive'
        end as movement
    from filled
),

final as (
    select
        cast(account_id as {{ string_type() }}) as account_id,
        cast(month_start as date) as month_start,
        {{ cents_to_dollars('mrr_cents') }} as mrr_usd,
        {{ cents_to_dollars('previous_mrr_cents') }} as previous_mrr_usd,
        {{ cents_to_dollars('mrr_cents - previous_mrr_cents') }} as mrr_change_usd,
        cast(movement as {{ string_type() }}) as movement,
        mrr_cents > 0 as is_active,
        cast(cohort_month as date) as cohort_month
    from classified
)

select * from final
