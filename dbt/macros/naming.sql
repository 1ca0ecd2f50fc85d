{#-
    Where a model lands. DuckDB: the folder's `+database` (the silver or gold DuckLake
    catalog), schema main: dbt's own rules, unchanged. Spark has one catalog and no
    database above a schema (dbt-spark refuses one): there the folder's `+database`
    names the Spark schema (silver.<model>, gold.<model>) and the relation has none.
-#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {{ return(adapter.dispatch('lakehouse_database_name', 'saaslake')(
        custom_database_name, node)) }}
{%- endmacro %}

{% macro default__lakehouse_database_name(custom_database_name, node) -%}
    {{ return(default__generate_database_name(custom_database_name, node)) }}
{%- endmacro %}

{% macro spark__lakehouse_database_name(custom_database_name, node) -%}
    {{ return(none) }}
{%- endmacro %}


{% macro generate_schema_name(custom_schema_name=none, node=none) -%}
    {{ return(adapter.dispatch('lakehouse_schema_name', 'saaslake')(custom_schema_name, node)) }}
{%- endmacro %}

{% macro default__lakehouse_schema_name(custom_schema_name, node) -%}
    {{ return(default__generate_schema_name(custom_schema_name, node)) }}
{%- endmacro %}

{% macro spark__lakehouse_schema_name(custom_schema_name, node) -%}
    {%- set layer = node.config.get('database') if node is not none else none -%}
    {{ return(layer or custom_schema_name or target.schema) }}
{%- endmacro %}
