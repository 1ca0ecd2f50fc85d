{#-
    The Bronze lineage columns every staging model carries through
    (docs/reference/landing-contract.md), so each Silver row can be traced to its batch,
    landing file and line: export date, landing file, line, batch id. For the select list of a
    staging model's `renamed` CTE, with no comma after the last column (portable SQL: Spark
    cannot parse a trailing comma).
-#}
{% macro bronze_lineage_columns() -%}
    _export_date,
    _source_file,
    _line_number,
    _batch_id
{%- endmacro %}
