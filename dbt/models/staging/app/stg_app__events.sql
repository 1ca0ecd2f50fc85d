{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}
-- Product events, one row per event_id (a re-delivery replaces the earlier copy: the
-- later export date, then file name, then line wins). Incremental: a run reads only the
-- Bronze partitions inside the lookback window (ingestion_date >= newest built export
-- date - lookback_days; the literal prunes files) plus any batch committed since the
-- last build (its _ingested_at; row-group statistics prune the rest), and writes only
-- the rows that win over the copy already built. A run without new data writes nothing.
{% if is_incremental() %}
    {% set watermark = run_query(
        'select max(_export_date), max(_ingested_at) from ' ~ this
    ) %}
    {% set max_export_date = watermark.columns[0].values()[0] %}
    {% set max_ingested_at = watermark.columns[1].values()[0] %}
{% endif %}
with

source as (
    select * from {{ source('app', 'events') }}
    {% if is_incremental() and max_export_date is not none %}
        where
            ingestion_date >= date '{{ max_export_date }}' - interval {{ var('lookback_days') }} day
            or _ingested_at > cast('{{ max_ingested_at }}' as {{ utc_timestamp_type() }})
    {% endif %}
),

renamed as (
    select
        event_id,
        account_id,
        user_id,
        event_name,
        occurred_at,
        cast({{ at_utc('occurred_at') }} as date) as occurred_date,
        properties as properties_json,
        {{ bronze_lineage_columns() }},
        _ingested_at
    from source
),

deduplicated as (
    {{ select_latest_version('renamed', 'event_id') }}
),

{% if is_incremental() %}
    already_built as (
        select
            event_id,
            _export_date,
            _source_file,
            _line_number
        from {{ this }}
    ),

    winners as (
        select deduplicated.*
        from deduplicated
        left join already_built
            on deduplicated.event_id = already_built.event_id
        where
            already_built.event_id is null
            or (deduplicated._export_date, deduplicated._source_file, deduplicated._line_number)
            > (already_built._export_date, already_built._source_file, already_built._line_number)
    )
{% else %}
    winners as (
        select * from deduplicated
    )
{% endif %}

select * from winners
