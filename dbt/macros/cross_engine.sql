{#-
    The few constructs the models need that DuckDB and Spark SQL spell differently, each
    with its DuckDB implementation (default__, what the models always used) and its Spark
    one beside it, chosen by adapter.dispatch (docs/decisions/0022-spark-engine.md). A
    model calls the macro; there is never a copy of a model per engine.

    Spark runs with spark.sql.session.timeZone = UTC (profiles.yml), so a Spark TIMESTAMP
    is an instant shown in UTC: where DuckDB needs `at time zone 'UTC'`, Spark needs
    nothing.
-#}

{#- Types: cast(x as {{ string_type() }}) and the like. -#}
{% macro string_type() %}{{ return(adapter.dispatch('string_type', 'saaslake')()) }}{% endmacro %}
{% macro default__string_type() %}{{ return('varchar') }}{% endmacro %}
{% macro spark__string_type() %}{{ return('string') }}{% endmacro %}

{#- An instant (UTC): DuckDB TIMESTAMPTZ, Spark TIMESTAMP (LTZ, shown in the session's UTC). -#}
{% macro utc_timestamp_type() %}
    {{ return(adapter.dispatch('utc_timestamp_type', 'saaslake')()) }}
{% endmacro %}
{% macro default__utc_timestamp_type() %}{{ return('timestamptz') }}{% endmacro %}
{% macro spark__utc_timestamp_type() %}{{ return('timestamp') }}{% endmacro %}

{#- An exact integer wider than BIGINT: DuckDB HUGEINT, Spark DECIMAL(38, 0). -#}
{% macro wide_integer_type() %}
    {{ return(adapter.dispatch('wide_integer_type', 'saaslake')()) }}
{% endmacro %}
{% macro default__wide_integer_type() %}{{ return('hugeint') }}{% endmacro %}
{% macro spark__wide_integer_type() %}{{ return('decimal(38, 0)') }}{% endmacro %}


{#- An instant read in UTC: DuckDB's timestamptz -> wall clock (or timestamp -> instant). -#}
{% macro at_utc(expression) %}
    {{ return(adapter.dispatch('at_utc', 'saaslake')(expression)) }}
{% endmacro %}
{% macro default__at_utc(expression) %}{{ return(expression ~ " at time zone 'UTC'") }}{% endmacro %}
{% macro spark__at_utc(expression) %}{{ return(expression) }}{% endmacro %}


{#- An instant as ISO 8601 text in UTC with microseconds: 2024-01-31T12:00:00.000000Z. -#}
{% macro iso_utc_text(expression) %}
    {{ return(adapter.dispatch('iso_utc_text', 'saaslake')(expression)) }}
{% endmacro %}
{% macro default__iso_utc_text(expression) -%}
    {{ return("strftime(" ~ expression ~ " at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')") }}
{%- endmacro %}
{% macro spark__iso_utc_text(expression) -%}
    {{ return("date_format(" ~ expression ~ ", \"yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'\")") }}
{%- endmacro %}


{#- Month boundaries crossed from start to end (DuckDB's datediff('month', ...)), and day
    boundaries (in UTC) from start to end. -#}
{% macro months_between_starts(start, end) %}
    {{ return(adapter.dispatch('months_between_starts', 'saaslake')(start, end)) }}
{% endmacro %}
{% macro default__months_between_starts(start, end) -%}
    {{ return("datediff('month', " ~ start ~ ", " ~ end ~ ")") }}
{%- endmacro %}
{% macro spark__months_between_starts(start, end) -%}
    {{ return("((year(" ~ end ~ ") - year(" ~ start ~ ")) * 12 + month(" ~ end ~ ") - month("
              ~ start ~ "))") }}
{%- endmacro %}

{% macro days_between(start, end) %}
    {{ return(adapter.dispatch('days_between', 'saaslake')(start, end)) }}
{% endmacro %}
{% macro default__days_between(start, end) -%}
    {{ return("datediff('day', " ~ start ~ ", " ~ end ~ ")") }}
{%- endmacro %}
{% macro spark__days_between(start, end) -%}
    {{ return("datediff(cast(" ~ end ~ " as date), cast(" ~ start ~ " as date))") }}
{%- endmacro %}


{#- One row per month start from first_month through last_month (both DATEs, first of
    the month): a set-returning expression for a select list, as a DATE. -#}
{% macro month_starts(first_month, last_month) %}
    {{ return(adapter.dispatch('month_starts', 'saaslake')(first_month, last_month)) }}
{% endmacro %}
{% macro default__month_starts(first_month, last_month) -%}
    {{ return("cast(unnest(generate_series(" ~ first_month ~ ", " ~ last_month
              ~ ", interval 1 month)) as date)") }}
{%- endmacro %}
{% macro spark__month_starts(first_month, last_month) -%}
    {{ return("explode(sequence(cast(" ~ first_month ~ " as date), cast(" ~ last_month
              ~ " as date), interval 1 month))") }}
{%- endmacro %}


{#- Integer division of non-negative exact integers (DuckDB `//`; Spark `div`, a BIGINT). -#}
{% macro integer_divide(dividend, divisor) %}
    {{ return(adapter.dispatch('integer_divide', 'saaslake')(dividend, divisor)) }}
{% endmacro %}
{% macro default__integer_divide(dividend, divisor) -%}
    {{ return(dividend ~ " // " ~ divisor) }}
{%- endmacro %}
{% macro spark__integer_divide(dividend, divisor) -%}
    {{ return(dividend ~ " div " ~ divisor) }}
{%- endmacro %}


{#- A common multiple of a small positive integer column over a window partition.
    DuckDB: the least common multiple (list_reduce with lcm). Spark has no lcm: the
    product of the distinct values, also a common multiple; a sum over a common
    denominator is the same exact fraction whichever common multiple it uses. -#}
{% macro common_multiple_over(column, partition_by) %}
    {{ return(adapter.dispatch('common_multiple_over', 'saaslake')(column, partition_by)) }}
{% endmacro %}
{% macro default__common_multiple_over(column, partition_by) -%}
    {{ return("list_reduce(list(" ~ column ~ ") over (partition by " ~ partition_by
              ~ "), lambda a, b: lcm(a, b))") }}
{%- endmacro %}
{% macro spark__common_multiple_over(column, partition_by) -%}
    {{ return("aggregate(array_distinct(collect_list(cast(" ~ column ~ " as bigint)) over ("
              ~ "partition by " ~ partition_by ~ ")), cast(1 as bigint), (a, b) -> a * b)") }}
{%- endmacro %}


{#- A JSON array of objects exploded to one row per element, as a struct column: a
    set-returning expression for a select list. fields: (name, DuckDB type) pairs. -#}
{% macro unnest_json_array(json_text, fields) %}
    {{ return(adapter.dispatch('unnest_json_array', 'saaslake')(json_text, fields)) }}
{% endmacro %}
{% macro default__unnest_json_array(json_text, fields) -%}
    {%- set members = [] -%}
    {%- for name, type in fields -%}
        {%- do members.append('"' ~ name ~ '": "' ~ type ~ '"') -%}
    {%- endfor -%}
    {{ return("unnest(from_json(" ~ json_text ~ ", '[{" ~ members | join(', ') ~ "}]'))") }}
{%- endmacro %}
{% macro spark__unnest_json_array(json_text, fields) -%}
    {%- set spark_types = {'VARCHAR': 'string', 'BIGINT': 'bigint', 'BOOLEAN': 'boolean'} -%}
    {%- set members = [] -%}
    {%- for name, type in fields -%}
        {%- do members.append(name ~ ': ' ~ spark_types[type]) -%}
    {%- endfor -%}
    {{ return("explode(from_json(" ~ json_text ~ ", 'array<struct<" ~ members | join(', ')
              ~ ">>'))") }}
{%- endmacro %}


{#- As-of left join: every row of the left side with the right row of the same key whose
    `right_time` is the greatest on or before `left_time` (none: nulls). The right side
    must be unique on (key, right_time). Use in a FROM clause after the left relation;
    the right relation keeps its name. -#}
{% macro asof_left_join(right, key, left_key, left_time, right_time) %}
    {{ return(adapter.dispatch('asof_left_join', 'saaslake')(
        right, key, left_key, left_time, right_time)) }}
{% endmacro %}
{% macro default__asof_left_join(right, key, left_key, left_time, right_time) -%}
    {{ return("asof left join " ~ right ~ " on " ~ left_key ~ " = " ~ right ~ "." ~ key
              ~ " and " ~ left_time ~ " >= " ~ right ~ "." ~ right_time) }}
{%- endmacro %}
{% macro spark__asof_left_join(right, key, left_key, left_time, right_time) -%}
    {{ return("left join (select *, lead(" ~ right_time ~ ") over (partition by " ~ key
              ~ " order by " ~ right_time ~ ") as _asof_until from " ~ right ~ ") as " ~ right
              ~ " on " ~ left_key ~ " = " ~ right ~ "." ~ key ~ " and " ~ left_time ~ " >= "
              ~ right ~ "." ~ right_time ~ " and (" ~ right ~ "._asof_until is null or "
              ~ left_time ~ " < " ~ right ~ "._asof_until)") }}
{%- endmacro %}
