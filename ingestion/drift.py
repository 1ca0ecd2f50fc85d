"""Source schema drift (F14): how a batch's columns differ from the contract and the last batch.

For every committed batch the loader looks at the columns the source actually sent:

* a CSV file's header; for JSON Lines the keys of the first ``SAMPLE_LINES`` objects;
* columns outside the contract (kept in Bronze's ``_extra``, ignored downstream);
* contract columns absent from the file (optional ones land as null; a missing required
  CSV column rejects the file before this point, a missing required JSON key quarantines
  each row);
* *retyped* columns: a column whose values fail its type (or are missing when required)
  in at least ``RETYPE_SHARE`` of the batch's rows, read from the quarantine reasons.

The batch's observed columns are recorded (``batch_columns``); a *schema change* is
recorded (``meta.schema_changes``) when a column appears or disappears against the
entity's previous batch, and for every retyped column. The ingest output names the
differences of each file; ``lakehouse status`` lists the latest changes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ingestion.contract import Entity

#: JSON Lines objects read to learn which keys a file carries.
SAMPLE_LINES = 1000
#: Share of a batch's rows failing one column's type that makes the column "retyped".
RETYPE_SHARE = 0.5
#: Quarantine reasons that say a value does not have its column's type (or is absent).
TYPE_FAILURES = (": not a", ": not valid", ": expected a JSON", ": timestamp without UTC offset")


@dataclass(frozen=True)
class SchemaChange:
    """One column that changed: ``new``, ``missing`` or ``retyped``, with a sentence."""

    change: str
    column: str
    detail: str

    def describe(self) -> str:
        """``retyped quantity (3 of 3 rows are not an integer)``."""
        return f"{self.change} {self.column} ({self.detail})"


@dataclass(frozen=True)
class Observation:
    """What one batch carried: its columns and how they differ from the contract."""

    columns: tuple[str, ...]
    new: tuple[str, ...]
    missing: tuple[str, ...]
    retyped: tuple[SchemaChange, ...]

    def message(self) -> str:
        """The differences in one clause for the ingest line ("" when none)."""
        parts = []
        if self.new:
            parts.append(f"unknown columns kept in _extra, ignored downstream: "
                         f"{', '.join(self.new)}")
        if self.missing:
            parts.append(f"columns missing from the file (null in Bronze): "
                         f"{', '.join(self.missing)}")
        parts += [f"column {c.column} retyped? {c.detail}" for c in self.retyped]
        return "; ".join(parts)



def changes_since(ent: Entity, columns: tuple[str, ...], previous: tuple[str, ...] | None
                  ) -> list[SchemaChange]:
    """Columns that appeared or disappeared against the entity's previous batch.

    For an entity's first batch the comparison is with the contract instead.
    """
    if previous is None:
        contract = ent.column_names
        return ([SchemaChange("new", c, "not in the landing contract")
                 for c in columns if c not in contract]
                + [SchemaChange("missing", c, "in the contract, absent from the file")
                   for c in contract if c not in columns and columns])
    before, now = set(previous), set(columns)
    return ([SchemaChange("new", c, "absent from the previous batch")
             for c in columns if c not in before]
            + [SchemaChange("missing", c, "present in the previous batch")
               for c in previous if c not in now])


def file_columns(path: Path, ent: Entity, header: tuple[str, ...] | None) -> tuple[str, ...]:
    """The columns a landing file carries: its CSV header, or its first objects' keys."""
    if header is not None:
        return tuple(header)
    lines = []
    with path.open("rb") as fh:
        for _ in range(SAMPLE_LINES):
            line = fh.readline()
            if not line:
                break
            lines.append(line)
    try:  # one parse of the sample as a JSON array: the common case, one object a line
        values = json.loads(b"[" + b",".join(lines) + b"]") if lines else []
    except ValueError:
        values = None
    if values is None or len(values) != len(lines):
        # a line is not one JSON value (blank, malformed): line by line, skipping it
        values = []
        for line in lines:
            try:
                values.append(json.loads(line))
            except ValueError:
                continue
    keys: dict[str, None] = {}
    for value in values:
        if isinstance(value, dict):
            keys.update(dict.fromkeys(value))
    return tuple(keys)


def observe(ent: Entity, columns: tuple[str, ...], *, input_rows: int,
            quarantine_file: Path | str | None, filesystem: Any = None) -> Observation:
    """Compare a batch's columns with the contract and find retyped columns.

    ``filesystem`` (a pyarrow filesystem) reads a ``quarantine_file`` in object storage.
    """
    contract = ent.column_names
    new = tuple(c for c in columns if c not in contract)
    missing = tuple(c for c in contract if c not in columns) if columns or input_rows else ()
    failures: Counter[str] = Counter()
    absent: Counter[str] = Counter()
    if quarantine_file is not None and input_rows:
        reasons = pq.read_table(quarantine_file, columns=["_reason"],
                                filesystem=filesystem).column("_reason")
        for reason in reasons.to_pylist():
            for part in (reason or "").split("; "):
                column = part.split(":", 1)[0]
                if part.endswith(": missing required field"):
                    absent[column] += 1
                elif any(marker in part for marker in TYPE_FAILURES):
                    failures[column] += 1
    share = RETYPE_SHARE * input_rows
    missing += tuple(c for c, n in sorted(absent.items())
                     if c in contract and c not in missing and n >= share)
    retyped = tuple(
        SchemaChange("retyped", column, f"{count:,} of {input_rows:,} rows are not a valid "
                     f"{ent.column(column).type} and were quarantined")
        for column, count in sorted(failures.items())
        if column in contract and column not in missing and count >= share)
    return Observation(columns, new, missing, retyped)
