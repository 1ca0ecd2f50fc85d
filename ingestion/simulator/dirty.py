"""Dirty mode: contract-breaking rows of every kind B1-B12.

The kinds are those of docs/reference/faults-and-bad-input.md.

Given the rendered columns of one file, ``corrupt`` picks a share of rows and breaks each
one in exactly one way a strict validator of ``ingestion.contract`` must quarantine:
field-level (null/blank key, ``"abc"`` for an int, ``1.5`` seats, negative money, absurd
quantity, unknown enum, timestamp without offset, ``2024-02-31``, 1900 and 2999, ...) or
line-level (truncated JSON, invalid UTF-8, ragged CSV row, an unterminated quote on the
last line). It also adds valid-but-awkward input that must *not* be quarantined and is not
counted: duplicate lines, an unknown extra JSON key or CSV column, a BOM, CRLF line
endings and emoji in names. All choices come from the caller's seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.contract import Column, Entity
from ingestion.simulator._fmt import Piece, as_array

#: Entities the rest of the business refers to: a subscription names a plan, and every
#: amount needs the rate of its day. Damaging one of their rows in place would lose the
#: only version of a plan or rate, and the build then rightly fails (an unknown plan is
#: never silently left out of MRR). Dirty mode damages *copies* of their rows instead, so
#: quarantine shows every kind of bad line and the business behind it stays whole.
REFERENCE_DATA = frozenset({("billing", "plans"), ("billing", "fx_rates")})

EMOJI = (" 🚀", " ✨", " ☕", " 🌍", " 📈")
EXTRA_JSON_KEY = ',"x_source_note":"legacy-export"'
EXTRA_CSV_COLUMN = "source_note"
EXTRA_CSV_VALUE = "legacy-export"


@dataclass
class Damage:
    """How one file is damaged: edited columns, line-level edits, extras."""

    columns: dict[str, pa.Array]
    #: Row index -> line-level corruption kind.
    line_kinds: dict[int, str] = field(default_factory=dict)
    #: Rows whose line is appended again at the end (valid duplicates).
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Row made into an unterminated quoted field and moved to the end (CSV), or -1.
    unterminated: int = -1
    bad_rows: int = 0
    #: Rows added as damaged copies of valid rows (reference data, ``REFERENCE_DATA``).
    copies: int = 0
    bom: bool = False
    crlf: bool = False
    extra_column: bool = False


def _literals(col: Column, json: bool) -> dict[str, str]:
    """Bad values for one column, by corruption kind (JSON literal or CSV text)."""
    def s(text: str) -> str:
        return f'"{text}"' if json else text

    out: dict[str, str] = {}
    if col.type == "int":
        out["bad_int"] = s("abc")
        out["fractional"] = "1.5"
        if col.min_value is not None and col.min_value >= 0:
            out["negative"] = "-500"
        if col.max_value is not None:
            out["absurd"] = "250000"
    elif col.type in ("number", "decimal"):
        out["bad_number"] = s("abc")
        out["negative"] = "-1.5"
        if col.max_value is not None:
            out["absurd"] = "99999"
    elif col.type == "timestamp":
        out["no_offset"] = s("2024-03-01T09:15:00")
        out["bad_date"] = s("2024-02-31T10:00:00Z")
        out["ancient"] = s("1900-01-01T00:00:00Z")
        out["far_future"] = s("2999-01-01T00:00:00Z")
    elif col.type == "date":
        out["bad_date"] = s("2024-02-31")
    elif col.type == "bool":
        out["bad_bool"] = s("yes")
    elif col.type == "json" and json:
        out["bad_json"] = "42"
    if col.enum:
        out["bad_enum"] = s("bogus_value")
    return out


def _field_options(ent: Entity, json: bool) -> dict[str, list[tuple[str, str]]]:
    """Corruption kind -> [(column, bad literal)] that apply to this entity."""
    options: dict[str, list[tuple[str, str]]] = {}
    null = "null" if json else None
    for col in ent.columns:
        if col.name in ent.key:
            options.setdefault("null_key", []).append((col.name, null or ""))
            options.setdefault("blank_key", []).append((col.name, '" "' if json else " "))
            continue
        if col.required and json:
            options.setdefault("null_required", []).append((col.name, "null"))
        for kind, lit in _literals(col, json).items():
            options.setdefault(kind, []).append((col.name, lit))
    return options


def line_kinds(json: bool) -> tuple[str, ...]:
    """Line-level corruptions that make sense for the format."""
    return ("truncated", "invalid_utf8") if json else ("ragged", "invalid_utf8")


def corrupt(ent: Entity, columns: dict[str, Piece], share: float,
            rng: np.random.Generator, first: bool) -> Damage:
    """Damage about ``share`` of the rows of one file (see module docstring).

    ``first`` marks the first file of the entity in this run: it always gets at least one
    bad row so every entity is covered even when files are small.
    """
    json = ent.format == "jsonl"
    n = len(next(iter(columns.values())))
    dmg = Damage(columns={k: as_array(v) for k, v in columns.items()})
    if n == 0:
        return dmg
    reserve = (not json) and n >= 2
    pool = n - 1 if reserve else n
    n_bad = min(pool, int(np.floor(pool * share + rng.random())))
    if first:
        n_bad = max(n_bad, min(pool, 1))
    candidates = np.arange(pool)
    if (ent.source, ent.name) in REFERENCE_DATA and n_bad:
        copied = pa.array(rng.choice(n, size=n_bad + int(reserve)))
        dmg.columns = {k: pa.concat_arrays([v, v.take(copied)]) for k, v in dmg.columns.items()}
        candidates = np.arange(n, n + n_bad)  # the copies (the last one is the reserve)
        dmg.copies = len(copied)
        n += dmg.copies
    options = _field_options(ent, json)
    kinds = sorted(options) + list(line_kinds(json))
    bad = (rng.choice(candidates, size=n_bad, replace=False) if n_bad
           else np.zeros(0, dtype=np.int64))
    bad = np.sort(bad)
    assigned = np.resize(rng.permutation(len(kinds)), n_bad)
    edits: dict[str, list[tuple[int, str]]] = {}
    for row, k in zip(bad.tolist(), assigned.tolist(), strict=True):
        kind = kinds[k]
        if kind in options:
            col, lit = options[kind][int(rng.integers(len(options[kind])))]
            edits.setdefault(col, []).append((row, lit))
        else:
            dmg.line_kinds[row] = kind
    for col, items in edits.items():
        mask = np.zeros(n, dtype=bool)
        rows = [r for r, _ in items]
        mask[rows] = True
        values = pa.array([lit for _, lit in items], pa.string())
        dmg.columns[col] = pc.replace_with_mask(dmg.columns[col], pa.array(mask), values)
    dmg.bad_rows = n_bad
    if reserve and n_bad:
        dmg.unterminated = n - 1
        dmg.bad_rows += 1
    _add_valid_oddities(ent, dmg, n, bad, share=share, rng=rng, json=json)
    return dmg


def _add_valid_oddities(ent: Entity, dmg: Damage, n: int, bad: np.ndarray, *, share: float,
                        rng: np.random.Generator, json: bool) -> None:
    """Duplicates, extra key/column, emoji names, BOM, CRLF: valid, never counted."""
    good = np.setdiff1d(np.arange(n if dmg.unterminated < 0 else n - 1), bad)
    if not len(good):
        return
    k = max(1, int(len(good) * share / 2))
    dmg.duplicates = np.sort(rng.choice(good, size=min(k, len(good)), replace=False))
    if json:
        extra = rng.choice(good, size=min(k, len(good)), replace=False)
        last = ent.columns[-1].name
        mask = np.zeros(n, dtype=bool)
        mask[extra] = True
        col = dmg.columns[last]
        with_key = pc.binary_join_element_wise(col, EXTRA_JSON_KEY, "")
        dmg.columns[last] = pc.if_else(pa.array(mask), with_key, col)
    else:
        dmg.bom = bool(rng.random() < 0.3)
        dmg.extra_column = bool(rng.random() < 0.3)
    dmg.crlf = bool(rng.random() < 0.3)
    if "account_name" in dmg.columns:
        fancy = rng.choice(good, size=min(k, len(good)), replace=False)
        mask = np.zeros(n, dtype=bool)
        mask[fancy] = True
        emoji = pa.array(np.array(EMOJI, dtype=object)[rng.integers(0, len(EMOJI), n)], pa.string())
        col = dmg.columns["account_name"]
        dmg.columns["account_name"] = pc.if_else(
            pa.array(mask), pc.binary_join_element_wise(col, emoji, ""), col
        )


def damage_line(line: bytes, kind: str, json: bool) -> bytes:
    """Apply a line-level corruption to one rendered line (without its newline)."""
    if kind == "truncated":
        return line[: max(1, len(line) // 2)]
    if kind == "invalid_utf8":
        cut = line.find(b'":"') + 3 if json else 0
        cut = max(cut, 0)
        return line[:cut] + b"\xff\xfe" + line[cut:]
    if kind == "ragged":
        return line + b",surplus,fields" if len(line) % 2 else line.rsplit(b",", 1)[0]
    raise ValueError(kind)
