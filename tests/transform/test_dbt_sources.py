"""The dbt Bronze sources list exactly the entities of the landing contract.

The on-run-start hook (``dbt/macros/register_bronze.sql``) registers one Bronze view per
dbt source table in schema ``bronze`` (all but ``batches``), taking the list from dbt's
``graph.sources``. So the sources' YAML, wherever it is split under
``dbt/models/staging/``, must name every entity of ``ingestion.contract.ENTITIES``, once,
as ``<source>.<entity>`` with identifier ``<source>__<entity>``: an entity missing there
would never be registered, and its staging model would not build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

from ingestion.contract import ENTITIES
from tests.helpers import PROJECT

STAGING = PROJECT / "dbt" / "models" / "staging"


def sources_files() -> list[Path]:
    """Every sources YAML file below the staging models, however deep."""
    return sorted([*STAGING.rglob("_*sources.yml"), *STAGING.rglob("_*sources.yaml")])


def bronze_tables() -> list[dict[str, Any]]:
    """Every source table the hook registers as Bronze: source, name, identifier, file.

    As the hook selects them: the source's schema is ``bronze`` (dbt's default schema of
    a source is its name; the YAML templates it per engine, so it is rendered for DuckDB,
    ADR 0022) and the identifier (default: the table's name) is not ``batches``.
    """
    tables = []
    for path in sources_files():
        document = yaml.safe_load(path.read_text()) or {}
        for source in document.get("sources") or []:
            schema = jinja2.Template(source.get("schema", source["name"])).render(
                target={"type": "duckdb"})
            if schema != "bronze":
                continue
            for table in source.get("tables") or []:
                identifier = table.get("identifier", table["name"])
                if identifier != "batches":
                    tables.append({"source": source["name"], "name": table["name"],
                                   "identifier": identifier, "file": path.name})
    return tables


def test_bronze_sources_are_exactly_the_landing_entities() -> None:
    """Given the dbt sources YAML under dbt/models/staging (searched recursively), when its
    Bronze tables other than ``batches`` are listed, then they are exactly the landing
    contract's entities, each once."""
    # Given
    files = sources_files()
    # When
    entities = [f"{t['source']}/{t['name']}" for t in bronze_tables()]
    # Then
    assert files, f"no _*sources.yml below {STAGING}"
    assert sorted(entities) == sorted(ENTITIES)


def test_bronze_source_identifiers_are_source_double_underscore_entity() -> None:
    """Given the dbt Bronze source tables, when their identifiers are read, then each is
    ``<source>__<entity>``, the name of the view the on-run-start hook registers."""
    # When
    tables = bronze_tables()
    # Then
    assert tables
    for table in tables:
        assert table["identifier"] == f"{table['source']}__{table['name']}", table
