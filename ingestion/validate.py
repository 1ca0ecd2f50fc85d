"""Turn the landing contract into one validating, typing SQL statement per entity.

The statement reads a registered Arrow chunk (``chunk``) and returns, per record, the
typed contract columns, the lineage columns and ``_reason``: NULL for a good row, else
every broken rule joined by ``; `` (for example ``quantity: not an integer: '1.5'``).
Only identifiers from ``contract.py`` are placed in the SQL text; every value that comes
from a file (CSV header names included) is a bound parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingestion.contract import (
    DUCKDB_TYPES,
    FUTURE_TOLERANCE_DAYS,
    MIN_TIMESTAMP,
    Column,
    Entity,
)
from lakecore.settings import sql_literal

TIMESTAMP_PATTERN = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)"
)
#: A numeric UTC offset that no place uses: beyond -14:00 or +14:00, or minutes over 59.
BAD_OFFSET_PATTERN = (r"[+-](1[5-9]|[2-9]\d|14:?(0[1-9]|[1-5]\d))(:?\d{2})?$"
                      r"|[+-]\d{2}:?[6-9]\d$")
#: What a key may not consist of only: whitespace, separators, format characters.
INVISIBLE = r"[\s\p{Z}\p{Cf}]"
INT_PATTERN = r"-?\d{1,18}"
NUMBER_PATTERN = r"-?\d+(\.\d+)?([eE][-+]?\d+)?"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
#: How JSON Lines values are read: text-like columns as their string value (a JSON number
#: where a string is expected is accepted as its text), the others as JSON text, so that
#: ``"3"`` (a string) fails the integer rule instead of being coerced.
JSON_TEXT_TYPES = ("string", "date", "timestamp")


@dataclass(frozen=True)
class ValidationQuery:
    """SQL plus the parameters it binds, in order."""

    sql: str
    params: dict[str, object]


def _checks(col: Column, key: bool, json_input: bool) -> list[str]:
    """SQL expressions yielding an error text or NULL for one column."""
    v = col.name
    name = col.name
    checks: list[str] = []
    # A key is blank when nothing is left after removing whitespace, separators and
    # invisible format characters (a tab, a no-break space, a zero-width space).
    blank = f"regexp_full_match({v}, '{INVISIBLE}*')"
    if col.required:
        what = "blank key" if key else "missing required field"
        checks.append(f"case when {v} is null or ({key} and {blank}) "
                      f"then '{name}: {what}' end")
    else:
        checks.append(f"case when {key} and {blank} then '{name}: blank key' end")
    shown = f"left({v}, 40)"
    if json_input and col.type in JSON_TEXT_TYPES:
        # A JSON \u0000 escape decodes to a NUL character inside the value.
        checks.append(f"case when position(chr(0) in {v}) > 0 "
                      f"then '{name}: NUL character in value' end")
    if col.type == "string":
        if col.enum:
            allowed = ", ".join(sql_literal(e) for e in col.enum)
            checks.append(f"case when {v} is not null and {v} not in ({allowed}) "
                          f"then '{name}: unknown value ''' || {shown} || '''' end")
    elif col.type == "int":
        cond = f"not regexp_full_match({v}, '{INT_PATTERN}')"
        checks.append(f"case when {v} is not null and ({cond}) "
                      f"then '{name}: not an integer: ''' || {shown} || '''' end")
    elif col.type in ("number", "decimal"):
        cond = f"not regexp_full_match({v}, '{NUMBER_PATTERN}')"
        checks.append(f"case when {v} is not null and ({cond}) "
                      f"then '{name}: not a number: ''' || {shown} || '''' end")
    elif col.type == "bool":
        cond = f"{v} not in ('true', 'false')" if json_input else (
            f"lower({v}) not in ('true', 'false')")
        checks.append(f"case when {v} is not null and ({cond}) "
                      f"then '{name}: not a boolean: ''' || {shown} || '''' end")
    elif col.type == "date":
        checks.append(
            f"case when {v} is not null and (not regexp_full_match({v}, '{DATE_PATTERN}') "
            f"or try_cast({v} as date) is null) "
            f"then '{name}: not a valid date: ''' || {shown} || '''' end")
    elif col.type == "timestamp":
        checks.append(
            f"case when {v} is null then null "
            f"when not regexp_full_match({v}, '{TIMESTAMP_PATTERN}') then "
            f"case when regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}[T ][0-9:.]+') "
            f"then '{name}: timestamp without UTC offset: ''' || {shown} || '''' "
            f"else '{name}: not an ISO-8601 timestamp: ''' || {shown} || '''' end "
            f"when {_offset_out_of_range(v)} "
            f"then '{name}: UTC offset out of range (-14:00 to +14:00): ''' || {shown} "
            f"|| '''' "
            f"when try_cast({v} as timestamptz) is null "
            f"then '{name}: not a valid timestamp: ''' || {shown} || '''' "
            f"when try_cast({v} as timestamptz) < timestamptz '{MIN_TIMESTAMP} 00:00:00+00' "
            f"or try_cast({v} as timestamptz) > "
            f"_export_date::timestamptz + interval {FUTURE_TOLERANCE_DAYS} day "
            f"then '{name}: out of the accepted range: ''' || {shown} || '''' end")
    elif col.type == "json":
        if json_input:
            checks.append(f"case when {v} is not null and left({v}, 1) not in ('[', '{{') "
                          f"then '{name}: expected a JSON array or object' end")
        else:
            checks.append(f"case when {v} is not null and not json_valid({v}) "
                          f"then '{name}: not valid JSON' end")
    if col.min_value is not None and col.type in ("int", "number", "decimal"):
        checks.append(
            f"case when try_cast({v} as double) < {col.min_value} "
            f"then '{name}: below the minimum {col.min_value:g}: ' || {shown} end")
    if col.max_value is not None and col.type in ("int", "number", "decimal"):
        checks.append(
            f"case when try_cast({v} as double) > {col.max_value} "
            f"then '{name}: above the maximum {col.max_value:g}: ' || {shown} end")
    return checks


def _offset_out_of_range(v: str) -> str:
    """SQL: the value ends in a UTC offset beyond 14:00 either way, or with minutes over 59."""
    return f"regexp_matches({v}, '{BAD_OFFSET_PATTERN}')"


def _typed(col: Column) -> str:
    v = col.name
    if col.type == "bool":
        return f"lower({v})::BOOLEAN as {v}"
    if col.type in ("string", "json"):
        return f"{v}::VARCHAR as {v}"
    return f"{v}::{DUCKDB_TYPES[col.type]} as {v}"


def _fields_from_json(ent: Entity) -> str:
    """Project the parsed JSON object into one text value per contract column."""
    parts = []
    for col in ent.columns:
        if col.type in JSON_TEXT_TYPES:
            parts.append(f"_v.{col.name} as {col.name}")
        else:
            parts.append(f"nullif(_v.{col.name}::VARCHAR, 'null') as {col.name}")
    return ",\n            ".join(parts)


def _json_structure(ent: Entity) -> str:
    """The ``from_json`` structure: one parse of each line into all contract fields."""
    return json.dumps({c.name: "VARCHAR" if c.type in JSON_TEXT_TYPES else "JSON"
                       for c in ent.columns})


def validation_query(ent: Entity, *, json_input: bool, header: list[str] | None = None
                     ) -> ValidationQuery:
    """Build the statement that validates and types one chunk of an entity.

    JSON Lines are decoded with ``try(decode(_line))``: a line that is not UTF-8 becomes a
    quarantined row, in the same single pass as the rest of its chunk. (``_line`` holds
    each line without its terminator, so the text is not trimmed again at every place the
    statement refers to it; that repeated trimming, not ``try()``, was what once made a
    separate fast form without ``try()`` worth having.)

    The chunk also carries the lineage columns ``_batch_id``, ``_source_file`` and
    ``_export_date`` per row, so one statement can validate several small files at once.
    Bound parameters: ``$ingested_at`` is the caller's; ``params`` holds the rest (for CSV
    with unknown columns, ``$extra_names``: their header names).

    Args:
        ent: The entity whose contract applies.
        json_input: True for JSON Lines (chunk columns ``_line_number, _raw`` and
            ``_line``, the line without its terminator: ``reader.line_contents``); False for
            CSV (chunk columns ``_line_number, _raw, _struct_error, c0..cN`` in header
            order).
        header: The CSV header (required for CSV).
    """
    if json_input:
        stage, extra_expr = _json_stage(ent)
        params: dict[str, object] = {}
    else:
        if header is None:
            raise ValueError("a CSV validation query needs the file's header")
        stage, extra_expr, params = _csv_stage(ent, header)

    key = set(ent.key)
    checks: list[str] = []
    for col in ent.columns:
        checks.extend(_checks(col, col.name in key, json_input))
    reason = "concat_ws('; ', " + ",\n            ".join(checks) + ")"
    typed = ",\n        ".join(
        f"case when _reason is null then {_typed(col).rsplit(' as ', 1)[0]} end as {col.name}"
        for col in ent.columns
    )
    sql = f"""
with
    {stage.strip()},
    checked as (
        select
            *,
            coalesce(_struct_error, nullif({reason}, '')) as _reason,
            {extra_expr} as _extra,
        from fields
    )
select
    {typed},
    _batch_id::VARCHAR as _batch_id,
    _source_file::VARCHAR as _source_file,
    _line_number::BIGINT as _line_number,
    _export_date::DATE as _export_date,
    $ingested_at::TIMESTAMPTZ as _ingested_at,
    _extra,
    _reason,
    case when _reason is not null then _raw end as _raw,
from checked
"""
    return ValidationQuery(sql=sql, params=params)


def _json_stage(ent: Entity) -> tuple[str, str]:
    """The CTEs that decode and parse JSON Lines into ``fields``, and the ``_extra`` expression.

    Unknown keys are kept as a JSON object in ``_extra``; a line that is not a JSON object
    gets its structural reason in ``_struct_error``.
    """
    known = ent.column_names
    known_list = "[" + ", ".join(sql_literal(c) for c in known) + "]"
    structure = sql_literal(_json_structure(ent))
    parse = f"try(from_json(_txt, {structure}))"
    stage = f"""
    lines as (
    select
        _batch_id,
        _source_file,
        _export_date,
        _line_number,
        _raw,
        try(decode(_line)) as _txt,
    from chunk
    ),
    parsed as (
    select
        *,
        {parse} as _v,
    from lines
    where _txt is null or _txt <> ''
    ),
    fields as (
    select
        _batch_id,
        _source_file,
        _export_date,
        _line_number,
        _raw,
        case
            when _txt is null then 'invalid UTF-8 (is the file Latin-1?)'
            when left(ltrim(_txt), 1) <> '{{' then
                case
                    when json_valid(_txt)
                        then 'not a JSON object: the line is a JSON ' || lower(json_type(_txt))
                    else 'malformed JSON'
                end
            when _v is not null then null
            when position(chr(0) in _txt) > 0 then 'NUL byte in line'
            when json_valid(_txt) then 'not a JSON object'
            else 'malformed JSON'
        end as _struct_error,
        {_fields_from_json(ent)},
        case
            when _v is null then null
            when list_has_all({known_list}, json_keys(_txt)) then []::VARCHAR[]
            else list_filter(json_keys(_txt), k -> not list_contains({known_list}, k))
        end as _extra_keys,
        _txt,
    from parsed
    where _v is not null or _txt is null or trim(_txt) <> ''
    )"""
    extra_expr = (
        "case when len(_extra_keys) > 0 then to_json(map_from_entries("
        "list_transform(_extra_keys, k -> {'k': k, 'v': _txt::json -> k})))::VARCHAR end"
    )
    return stage, extra_expr


def _csv_stage(ent: Entity, header: list[str]) -> tuple[str, str, dict[str, object]]:
    """The CTE that maps CSV chunk columns ``c0..cN`` to the contract's names, as ``fields``.

    Returns the CTE, the ``_extra`` expression (unknown columns as a JSON object) and the
    bound parameters it needs (``$extra_names``).
    """
    params: dict[str, object] = {}
    known = ent.column_names
    positions = {name: idx for idx, name in enumerate(header)}
    projections = []
    for col in ent.columns:
        if col.name in positions:
            projections.append(f"c{positions[col.name]} as {col.name}")
        else:
            projections.append(f"null::VARCHAR as {col.name}")
    extras = [(idx, name) for idx, name in enumerate(header) if name not in known]
    extra_cols = [f"c{idx} as _x{idx}" for idx, _ in extras]
    if extras:
        params["extra_names"] = [name for _, name in extras]
        values = ", ".join(f"_x{idx}" for idx, _ in extras)
        extra_expr = (
            f"case when list_bool_or(list_transform([{values}], x -> x is not null)) "
            f"then to_json(map_from_entries(list_transform(list_filter("
            f"list_zip($extra_names, [{values}]), p -> p[2] is not null), "
            f"p -> {{'k': p[1], 'v': p[2]}})))::VARCHAR end"
        )
    else:
        extra_expr = "null::VARCHAR"
    stage = f"""
    fields as (
    select
        _batch_id,
        _source_file,
        _export_date,
        _line_number,
        _raw,
        _struct_error,
        {", ".join(projections + extra_cols)},
    from chunk
    )"""
    return stage, extra_expr, params
