{#-
    Registers Bronze as views, run at the start of every dbt invocation (on-run-start);
    one implementation per engine (adapter.dispatch): DuckDB's in-memory database
    (memory.bronze) here, Spark's global temporary views in spark__register_bronze.

    DuckDB:

    Only batches committed in the manifest (table batches of the SQLite file that
    Settings names; the build passes it as LAKEHOUSE_DBT_MANIFEST; or, with a PostgreSQL
    catalog, table lakehouse.batches of the database LAKEHOUSE_DBT_MANIFEST_PG names) are
    visible: a Parquet file at a Bronze path without a manifest row is an orphan of a
    crash and is never read. An entity without any committed file reads its typed empty
    schema file instead, so a lakehouse fed only by billing still builds.

    memory.bronze.batches     one row per committed batch (empty batches included)
    memory.bronze.<src>__<e>  read_parquet([committed files], hive_partitioning) with the
                              partition column ingestion_date (DATE), so a filter on it
                              prunes files.
-#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{% macro register_bronze() %}
    {{ return(adapter.dispatch('register_bronze', 'saaslake')()) }}
{% endmacro %}


{% macro duckdb__register_bronze() %}
    {% if execute %}
        {% set root = env_var('LAKEHOUSE_DBT_ROOT') %}
        {% set manifest_path = env_var('LAKEHOUSE_DBT_MANIFEST') %}
        {% set manifest_pg = env_var('LAKEHOUSE_DBT_MANIFEST_PG', '') %}
        {% do run_query('create schema if not exists memory.bronze') %}

        {% if manifest_pg %}
            {% set manifest_scan = 'postgres_scan(' ~ sql_string(manifest_pg) ~ ', '
                ~ sql_string('lakehouse') ~ ', ' ~ sql_string('batches') ~ ')' %}
            {% set found_count = 1 %}
        {% else %}
            {% set manifest_scan = 'sqlite_scan(' ~ sql_string(manifest_path) ~ ', '
                ~ sql_string('batches') ~ ')' %}
            {% set found = run_query('select count(*) from glob(' ~ sql_string(manifest_path) ~ ')') %}
            {% set found_count = found.columns[0].values()[0] %}
        {% endif %}
        {% if found_count > 0 %}
            {% do run_query(
                'create or replace table memory.bronze.batches as select'
                ~ ' batch_id, source, entity, cast(export_date as date) as export_date,'
                ~ ' landing_file, cast(input_rows as bigint) as input_rows,'
                ~ ' cast(landed_rows as bigint) as landed_rows,'
                ~ ' cast(quarantined_rows as bigint) as quarantined_rows,'
                ~ ' bronze_file, ingested_at'
                ~ ' from ' ~ manifest_scan
            ) %}
        {% else %}
            {% do run_query(
                'create or replace table memory.bronze.batches ('
                ~ ' batch_id varchar, source varchar, entity varchar, export_date date,'
                ~ ' landing_file varchar, input_rows bigint, landed_rows bigint,'
                ~ ' quarantined_rows bigint, bronze_file varchar, ingested_at varchar)'
            ) %}
        {% endif %}

        {#- Every Bronze entity is a dbt source table in schema bronze (the sources' YAML
            lists them once, from the landing contract); the manifest's batches view is not. -#}
        {% for source_name, entity_name in bronze_entities('bronze') %}
            {% set qualified = source_name ~ '__' ~ entity_name %}
            {% set paths = committed_bronze_paths('memory.bronze.batches', source_name,
                                                  entity_name, root) %}
            {% if paths | length > 0 %}
                {% set relation_sql =
                    'select * from read_parquet([' ~ paths | join(', ') ~ '],'
                    ~ ' hive_partitioning = true, union_by_name = true,'
                    ~ ' hive_types = {' ~ sql_string('ingestion_date') ~ ': date})' %}
            {% else %}
                {% set schema_file = bronze_schema_file(source_name, entity_name) %}
                {% set relation_sql =
                    'select *, cast(null as date) as ingestion_date from read_parquet('
                    ~ sql_string(schema_file) ~ ')' %}
            {% endif %}
            {% do run_query('create or replace view memory.bronze.' ~ qualified ~ ' as ' ~ relation_sql) %}
        {% endfor %}
    {% endif %}
    select 1
{% endmacro %}


{#-
    Spark: the same views as global temporary views (global_temp.<src>__<e>, the sources'
    schema on Spark), so they live as long as the session, across dbt's statements.
    Spark cannot read the manifest (SQLite): the build writes its committed batches as
    JSON lines (LAKEHOUSE_DBT_BRONZE_BATCHES, from ingestion.manifest's Python API, so
    wherever the manifest lives) and this macro reads that file. An entity's view scans
    its Bronze folder (hive partition ingestion_date, columns merged across files by
    spark.sql.parquet.mergeSchema) and keeps only rows of committed files
    (_metadata.file_path): an orphan of a crash is never read.
-#}
{% macro spark__register_bronze() %}
    {% if execute %}
        {% set root = env_var('LAKEHOUSE_DBT_ROOT') %}
        {% set url_root = ('file:' ~ root) if root.startswith('/') else root %}
        {% do run_query(
            'create or replace temporary view lakehouse_bronze_batches_file ('
            ~ ' batch_id string, source string, entity string, export_date date,'
            ~ ' landing_file string, input_rows bigint, landed_rows bigint,'
            ~ ' quarantined_rows bigint, bronze_file string, ingested_at string)'
            ~ ' using json options (path ' ~ sql_string(env_var('LAKEHOUSE_DBT_BRONZE_BATCHES'))
            ~ ')'
        ) %}
        {% do run_query(
            'create or replace global temporary view batches as'
            ~ ' select * from lakehouse_bronze_batches_file'
        ) %}
        {% for source_name, entity_name in bronze_entities('global_temp') %}
            {% set paths = committed_bronze_paths('global_temp.batches', source_name,
                                                  entity_name, url_root) %}
            {% if paths | length > 0 %}
                {% set relation_sql =
                    'select * from parquet.`' ~ root ~ '/bronze/' ~ source_name ~ '/'
                    ~ entity_name ~ '` where _metadata.file_path in ('
                    ~ paths | join(', ') ~ ')' %}
            {% else %}
                {% set relation_sql =
                    'select *, cast(null as date) as ingestion_date from parquet.`'
                    ~ bronze_schema_file(source_name, entity_name) ~ '`' %}
            {% endif %}
            {% do run_query('create or replace global temporary view '
                ~ source_name ~ '__' ~ entity_name ~ ' as ' ~ relation_sql) %}
        {% endfor %}
    {% endif %}
    select 1
{% endmacro %}


{#- Every Bronze entity (source name, table name): the dbt source tables of the given
    schema (the sources' YAML lists them once, from the landing contract), except the
    manifest's batches. -#}
{% macro bronze_entities(schema) %}
    {% set entities = [] %}
    {% for node in graph.sources.values() | sort(attribute='identifier') %}
        {% if node.schema == schema and node.identifier != 'batches' %}
            {% do entities.append((node.source_name, node.name)) %}
        {% endif %}
    {% endfor %}
    {{ return(entities) }}
{% endmacro %}


{#- The committed Bronze files of one entity, as SQL string literals of their full paths
    below ``prefix`` (the data root as the engine names it), read from the engine's view of
    the manifest's batches. -#}
{% macro committed_bronze_paths(batches, source_name, entity_name, prefix) %}
    {% set files = run_query(
        'select bronze_file from ' ~ batches
        ~ ' where source = ' ~ sql_string(source_name)
        ~ ' and entity = ' ~ sql_string(entity_name)
        ~ ' and bronze_file is not null order by bronze_file'
    ).columns[0].values() %}
    {% set paths = [] %}
    {% for f in files %}
        {% do paths.append(sql_string(prefix ~ '/' ~ f)) %}
    {% endfor %}
    {{ return(paths) }}
{% endmacro %}


{#- The typed empty schema of an entity (written by ingestion.schemas before every build). -#}
{% macro bronze_schema_file(source_name, entity_name) %}
    {{ return(env_var('LAKEHOUSE_DBT_EMPTY_SCHEMAS') ~ '/' ~ source_name ~ '/' ~ entity_name ~ '.parquet') }}
{% endmacro %}
