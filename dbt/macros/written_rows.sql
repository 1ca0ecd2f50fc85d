{#-
    The rows a test checks (dbt's `where` test config, docs/decisions/0023-a-day-costs-a-day.md).
    A test of an incremental model may say `where: "<column> > __written_since__"`: in a
    daily build (the build sets LAKEHOUSE_DBT_WRITTEN_SINCE to the newest commit time of
    the batches the previous build read) it checks only the rows this run wrote; in any
    other build (full refresh, --select, a first build, Spark) the variable is empty and it
    checks every row. Any other `where` works as in dbt.

    The variable is read only while executing (`execute`), so a new value every day does
    not make dbt parse the project again.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__written_since__' in where -%}
        {%- set since = env_var('LAKEHOUSE_DBT_WRITTEN_SINCE', '') if execute else '' -%}
        {%- if since -%}
            {%- set where = where | replace('__written_since__',
                'cast(' ~ sql_string(since) ~ ' as ' ~ utc_timestamp_type() ~ ')') -%}
        {%- else -%}
            {%- set where = '' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
