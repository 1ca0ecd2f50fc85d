{#-
    The materialization of the incremental models (stg_app__events,
    fct_account_daily_usage). DuckDB: `incremental` (delete+insert on the DuckLake
    catalogs). Spark: `table`, a full rebuild every build: the models' incremental
    branches use DuckDB's MERGE-free delete+insert, which plain Parquet tables on Spark
    do not have (docs/decisions/0022-spark-engine.md weighs insert_overwrite).
-#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'saaslake')()) }}
{%- endmacro %}
{% macro default__incremental_materialization() %}{{ return('incremental') }}{% endmacro %}
{% macro spark__incremental_materialization() %}{{ return('table') }}{% endmacro %}
