-- The metric cells add up to the Gold tables they slice: per month, the MRR cells give
-- mrr_movements_monthly's bridge; per cohort and age, the cohort cells give
-- cohort_retention's counts and MRR; per month, the trial rows give
-- trial_conversion_monthly's counts. Any row returned is a difference.
with

mrr_cells as (
    select
        month_start,
        sum(opening_mrr_usd) as opening_mrr_usd,
        sum(new_mrr_usd) as new_mrr_usd,
        sum(expansion_mrr_usd) as expansion_mrr_usd,
        sum(reactivation_mrr_usd) as reactivation_mrr_usd,
        sum(contraction_mrr_usd) as contraction_mrr_usd,
        sum(churned_mrr_usd) as churned_mrr_usd,
        sum(closing_mrr_usd) as closing_mrr_usd,
        sum(customers_opening) as customers_opening,
        sum(customers_closing) as customers_closing
    from {{ ref('metric_mrr_cells_monthly') }}
    group by all
),

movements as (
    select * from {{ ref('mrr_movements_monthly') }}
),

cohort_cells as (
    select
        cohort_month,
        months_since_start,
        sum(cohort_customers) as cohort_customers,
        sum(retained_customers) as retained_customers,
        sum(cohort_mrr_usd) as cohort_mrr_usd
    from {{ ref('metric_cohort_cells') }}
    group by all
),

cohorts as (
    select * from {{ ref('cohort_retention') }}
),

trial_rows as (
    select
        month_start,
        count(subscription_id) as trials_started,
        count_if(converted) as trials_converted,
        count_if(is_open) as trials_open
    from {{ ref('metric_trials') }}
    group by all
),

trials as (
    select * from {{ ref('trial_conversion_monthly') }}
),

mrr_diffs as (
    select
        'mrr' as cells,
        cast(
            coalesce(movements.month_start, mrr_cells.month_start) as {{ string_type() }}
        ) as cell_key
    from movements
    full outer join mrr_cells on movements.month_start = mrr_cells.month_start
    where
        movements.month_start is null or mrr_cells.month_start is null
        or movements.opening_mrr_usd != mrr_cells.opening_mrr_usd
        or movements.new_mrr_usd != mrr_cells.new_mrr_usd
        or movements.expansion_mrr_usd != mrr_cells.expansion_mrr_usd
        or movements.reactivation_mrr_usd != mrr_cells.reactivation_mrr_usd
        or movements.contraction_mrr_usd != mrr_cells.contraction_mrr_usd
        or movements.churned_mrr_usd != mrr_cells.churned_mrr_usd
        or movements.closing_mrr_usd != mrr_cells.closing_mrr_usd
        or movements.customers_opening != mrr_cells.customers_opening
        or movements.customers_closing != mrr_cells.customers_closing
),

cohort_diffs as (
    select
        'cohorts' as cells,
        cast(
            coalesce(cohorts.cohort_month, cohort_cells.cohort_month) as {{ string_type() }}
        ) as cell_key
    from cohorts
    full outer join cohort_cells
        on
            cohorts.cohort_month = cohort_cells.cohort_month
            and cohorts.months_since_start = cohort_cells.months_since_start
    where
        cohorts.cohort_month is null or cohort_cells.cohort_month is null
        or cohorts.cohort_customers != cohort_cells.cohort_customers
        or cohorts.retained_customers != cohort_cells.retained_customers
        or cohorts.cohort_mrr_usd != cohort_cells.cohort_mrr_usd
),

trial_diffs as (
    select
        'trials' as cells,
        cast(
            coalesce(trials.month_start, trial_rows.month_start) as {{ string_type() }}
        ) as cell_key
    from trials
    full outer join trial_rows on trials.month_start = trial_rows.month_start
    where
        trials.month_start is null or trial_rows.month_start is null
        or trials.trials_started != trial_rows.trials_started
        or trials.trials_converted != trial_rows.trials_converted
        or trials.trials_open != trial_rows.trials_open
)

select * from mrr_diffs
union all
select * from cohort_diffs
union all
select * from trial_diffs
