"""Typed empty Bronze schemas: one 0-row Parquet file per entity of the landing contract.

An entity that never delivered a file still has a Bronze table with every contract and
lineage column, so dbt's sources, ``lakehouse sql`` and the build work on a lakehouse fed
by one source system only. This module is the only writer of those files.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.contract import ENTITIES, Entity
from ingestion.validate import validation_query
from lakecore.duck import connect_duckdb
from lakecore.settings import Settings


def write_empty_schemas(settings: Settings, con: duckdb.DuckDBPyConnection | None = None
                        ) -> None:
    """Write a 0-row Parquet file with the full Bronze schema of every entity.

    Readers use it for an entity that has not delivered any file yet, so a build never
    fails on a missing source (``Settings.empty_schema_path``). The loader writes them
    before its first batch and the build before it starts, so Bronze always has a schema
    per entity. Idempotent: existing files are kept.

    Args:
        settings: The lakehouse.
        con: A DuckDB connection to use; a new one is opened (and closed) when None.
    """
    missing = [ent for ent in ENTITIES.values() if not settings.empty_schema_path(
        ent.source, ent.name).exists()]
    if not missing:
        return
    with nullcontext(con) if con is not None else connect_duckdb(settings) as db:
        for ent in missing:
            _write_empty_schema(settings, db, ent)


def _write_empty_schema(settings: Settings, con: duckdb.DuckDBPyConnection, ent: Entity
                        ) -> None:
    target = settings.empty_schema_path(ent.source, ent.name)
    header = list(ent.column_names) if ent.format == "csv" else None
    query = validation_query(ent, json_input=ent.format == "jsonl", header=header)
    empty = {"_line_number": pa.array([], pa.int64()),
             "_raw": pa.array([], pa.large_binary()),
             "_line": pa.array([], pa.large_binary()),
             "_batch_id": pa.array([], pa.string()),
             "_source_file": pa.array([], pa.string()),
             "_export_date": pa.array([], pa.string())}
    if header is not None:
        empty["_struct_error"] = pa.array([], pa.string())
        empty.update({f"c{i}": pa.array([], pa.string()) for i in range(len(header))})
    con.register("chunk", pa.table(empty))
    params = {**query.params, "ingested_at": datetime.now(UTC)}
    result = con.execute(query.sql, params).to_arrow_table()
    con.unregister("chunk")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    pq.write_table(result.drop_columns(["_reason", "_raw"]), tmp, compression="zstd")
    os.replace(tmp, target)
