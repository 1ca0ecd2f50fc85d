{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key=['account_id', 'activity_date'],
        on_schema_change='fail',
    )
}}
-- Account x day product usage: events and distinct active users. Incremental: a run
-- recomputes exactly the days that received events committed since the last build
-- (events ingested after the greatest last_ingested_at already built), so late events
-- land in their own day once and a rerun without new data changes nothing.
{% if is_incremental() %}
    {% set watermark = run_query(
        'select max(last_ingested_at) from ' ~ this
    ).columns[0].values()[0] %}
{% endif %}
with

events as (
    select * from {{ ref('stg_app__events') }}
),

{% if is_incremental() and watermark is not none %}
    touched_days as (
        select distinct occurred_date
        from events
        where _ingested_at > cast('{{ watermark }}' as {{ utc_timestamp_type() }})
    ),

    scoped as (
        select events.*
        from events
        inner join touched_days
            on events.occurred_date = touched_days.occurred_date
    ),
{% else %}
    scoped as (
        select * from events
    ),
{% endif %}

final as (
    select
        cast(account_id as {{ string_type() }}) as account_id,
        cast(occurred_date as date) as activity_date,
        cast(count(*) as bigint) as event_count,
        cast(count(distinct user_id) as bigint) as active_users,
        cast(max(_ingested_at) as {{ utc_timestamp_type() }}) as last_ingested_at
    from scoped
    group by all
)

select * from final
