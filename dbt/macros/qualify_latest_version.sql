{#-
    The deduplication of a staging model: keep, per key, the newest version in the order
    of latest_version_first (greatest time column, then later export date, file name,
    line). partition_by is a column or a list of columns; time_column is omitted for
    entities without a version time (append-only events, fx corrections). The whole
    select of the step, on DuckDB with `qualify`:

        deduplicated as (
            {{ select_latest_version('renamed', 'account_id', 'updated_at') }}
        ),

    Spark has no `qualify` (nor `select * exclude`): there the newest row of each key is
    max_by(struct(*), struct(<order columns>)). Every order column sorts descending and
    a null time sorts last on both engines (Spark orders a null struct field first, so
    max never picks it over a value), and the order is total (file and line are unique),
    so both keep the same row.
-#}
{% macro select_latest_version(relation, partition_by, time_column=none) -%}
    {{ return(adapter.dispatch('select_latest_version', 'saaslake')(
        relation, partition_by, time_column)) }}
{%- endmacro %}

{% macro default__select_latest_version(relation, partition_by, time_column=none) -%}
    {%- set keys = [partition_by] if partition_by is string else partition_by -%}
    select * from {{ relation }}
    qualify row_number() over (
        partition by {{ keys | join(', ') }}
        order by {{ latest_version_first(time_column) }}
    ) = 1
{%- endmacro %}

{% macro spark__select_latest_version(relation, partition_by, time_column=none) -%}
    {%- set keys = [partition_by] if partition_by is string else partition_by -%}
    {%- set order = ([time_column] if time_column else [])
        + ['_export_date', '_source_file', '_line_number'] -%}
    select latest.* from (
        select max_by(struct(*), struct({{ order | join(', ') }})) as latest
        from {{ relation }}
        group by {{ keys | join(', ') }}
    ) as newest
{%- endmacro %}
