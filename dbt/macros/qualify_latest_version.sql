{#-
    The deduplication of a staging model: keep, per key, the newest version in the order
    of latest_version_first (greatest time column, then later export date, file name,
    line). partition_by is a column or a list of columns; time_column is omitted for
    entities without a version time (append-only events, fx corrections).

        select * from renamed
        {{ qualify_latest_version('account_id', 'updated_at') }}
-#}
{% macro qualify_latest_version(partition_by, time_column=none) -%}
    {%- set keys = [partition_by] if partition_by is string else partition_by -%}
    qualify row_number() over (
        partition by {{ keys | join(', ') }}
        order by {{ latest_version_first(time_column) }}
    ) = 1
{%- endmacro %}
