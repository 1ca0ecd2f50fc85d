{#-
    The version order of docs/reference/landing-contract.md / docs/reference/gold-metrics.md, newest
    first, for `order by` in a `row_number()` window: the greatest time column wins, a tie goes to
    the later export date, then the later file name, then the later line. One place for the rule
    that every staging model's deduplication depends on.
-#}
{% macro latest_version_first(time_column=none) -%}
    {%- if time_column %}{{ time_column }} desc, {% endif -%}
    _export_date desc, _source_file desc, _line_number desc
{%- endmacro %}
