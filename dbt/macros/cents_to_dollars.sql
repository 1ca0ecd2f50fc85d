{#-
    Minor units (cents) to USD as DECIMAL(18,2), the money type of Gold. One place for
    the cast every money column of the marts goes through.

    cents_to_dollars('mrr_cents')
        Whole cents (an integer expression) to dollars, exactly:
        cast(cast(mrr_cents as decimal(18, 0)) * 0.01 as decimal(18, 2)).
    cents_to_dollars('total_minor', 'usd_per_unit')
        Minor units of a currency at a USD rate (DECIMAL), rounded half up to cents:
        cast(round(total_minor * usd_per_unit * 0.01, 2) as decimal(18, 2)).
        amount_minor is multiplied as written: pass a column or a parenthesised
        expression, e.g. '(total_minor - amount_paid_minor)'.
-#}
{% macro cents_to_dollars(amount_minor, usd_per_unit=none) -%}
    {%- if usd_per_unit is none -%}
        cast(cast({{ amount_minor }} as decimal(18, 0)) * 0.01 as decimal(18, 2))
    {%- else -%}
        cast(round({{ amount_minor }} * {{ usd_per_unit }} * 0.01, 2) as decimal(18, 2))
    {%- endif -%}
{%- endmacro %}
