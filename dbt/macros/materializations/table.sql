{#-
    The table materialization for DuckLake, one transaction per model.

    dbt-duckdb's own creates <model>__dbt_tmp, renames the old table to a backup,
    renames the new one into place, commits, then drops the backup in a second
    transaction: two DuckLake commits (each a SQLite transaction) and data files under
    __dbt_tmp folder names. Here the old table is dropped and the new one created in
    the same transaction: one commit, the same atomicity for readers (DuckLake commits
    a transaction as one snapshot), data files under the model's own name. Contracts,
    hooks, grants and docs behave as in dbt-duckdb.
-#}
{% materialization table, adapter="duckdb", supported_languages=['sql'] %}

    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if existing_relation is not none %}
        {% do adapter.drop_relation(existing_relation) %}
    {% endif %}

    {% call statement('main') -%}
        {{- create_table_as(False, target_relation, compiled_code, 'sql') }}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {% do persist_docs(target_relation, model) %}

    -- `COMMIT` happens here
    {{ adapter.commit() }}

    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
