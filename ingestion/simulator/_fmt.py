"""Vectorised text rendering: numbers, ids and timestamps as Arrow string arrays.

Every helper turns a numpy array into a ``pyarrow.StringArray`` without a Python loop per
value. Fixed-width values (timestamps, zero-padded ids) are assembled as a ``uint8``
matrix and wrapped zero-copy into an Arrow array, which is far faster than ``strftime``.
The output is byte-for-byte deterministic: no locale, no float ``repr`` surprises.
"""

from __future__ import annotations

from functools import cache
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_PER_DAY = 86_400
JSON_NULL = "null"


def fixed_width(mat: np.ndarray) -> pa.StringArray:
    """Wrap an ``(n, w)`` ``uint8`` matrix of ASCII bytes as ``n`` strings of width ``w``."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if n else np.zeros(1, np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


@cache
def _time_of_day_matrix() -> np.ndarray:
    """``HH:MM:SS`` for every second of a day, as an ``(86400, 8)`` matrix."""
    sec = np.arange(SECONDS_PER_DAY)
    digits = np.stack(
        [sec // 36000, sec // 3600 % 10, sec // 600 % 6, sec // 60 % 10, sec // 10 % 6, sec % 10],
        axis=1,
    ).astype(np.uint8) + ord("0")
    out = np.full((SECONDS_PER_DAY, 8), ord(":"), dtype=np.uint8)
    out[:, [0, 1, 3, 4, 6, 7]] = digits
    return out


#: Day numbers covered by the cached date table (1970-01-01 .. 2199-12-31).
_TABLE_DAYS = 84_005


@cache
def _date_table() -> np.ndarray:
    """``YYYY-MM-DD`` for every day from 1970 to 2199, computed once."""
    days = np.arange(_TABLE_DAYS).astype("datetime64[D]")
    texts = np.datetime_as_string(days, unit="D").astype("S10")
    return np.frombuffer(texts.tobytes(), dtype=np.uint8).reshape(len(days), 10)


def _date_rows(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` bytes of each epoch day number."""
    if len(days) and (days.min() < 0 or days.max() >= _TABLE_DAYS):
        texts = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype("S10")
        return np.frombuffer(texts.tobytes(), dtype=np.uint8).reshape(len(days), 10)
    return _date_table()[days]


def timestamp_matrix(secs: np.ndarray, *, quoted: bool = False) -> np.ndarray:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` rows of a ``uint8`` matrix."""
    secs = np.asarray(secs, dtype=np.int64)
    n = len(secs)
    q = 1 if quoted else 0
    out = np.empty((n, 20 + 2 * q), dtype=np.uint8)
    if n:
        out[:, q : q + 10] = _date_rows(secs // SECONDS_PER_DAY)
        out[:, q + 10] = ord("T")
        out[:, q + 11 : q + 19] = _time_of_day_matrix()[secs % SECONDS_PER_DAY]
        out[:, q + 19] = ord("Z")
        if quoted:
            out[:, 0] = ord('"')
            out[:, -1] = ord('"')
    return out


def timestamps(secs: np.ndarray, *, quoted: bool = False) -> pa.StringArray:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (optionally JSON-quoted)."""
    return fixed_width(timestamp_matrix(secs, quoted=quoted))


def dates(days: np.ndarray) -> pa.StringArray:
    """Epoch day numbers as ``YYYY-MM-DD``."""
    days = np.asarray(days, dtype=np.int64)
    if not len(days):
        return pa.array([], pa.string())
    return fixed_width(_date_rows(days))


@cache
def _four_digits() -> np.ndarray:
    """``0000`` .. ``9999`` as 4-byte words (``uint32``), to be viewed as bytes."""
    v = np.arange(10_000)
    digits = np.stack([v // 1000, v // 100 % 10, v // 10 % 10, v % 10], axis=1) + ord("0")
    return np.ascontiguousarray(digits.astype(np.uint8)).view(np.uint32).ravel()


def id_matrix(prefix: str, numbers: np.ndarray, width: int, *, quoted: bool = False) -> np.ndarray:
    """``prefix`` + zero-padded decimal ``numbers`` as rows of a ``uint8`` matrix."""
    rest = np.asarray(numbers, dtype=np.int64)
    if len(rest) and rest.min() >= 0 and rest.max() < 2**32:
        rest = rest.astype(np.uint32)
    head = ('"' if quoted else "") + prefix
    total = len(head) + width + (1 if quoted else 0)
    n = len(rest)
    out = np.empty((n, total), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head.encode("ascii"), dtype=np.uint8)
    table = _four_digits()
    stop = len(head) + width
    while stop > len(head):
        take = min(4, stop - len(head))
        quotient = rest // 10_000
        words = table[rest - quotient * 10_000].view(np.uint8).reshape(n, 4)
        out[:, stop - take : stop] = words[:, 4 - take :]
        rest = quotient
        stop -= take
    if quoted:
        out[:, -1] = ord('"')
    return out


def padded_ids(
    prefix: str, numbers: np.ndarray, width: int, *, quoted: bool = False
) -> pa.StringArray:
    """``prefix`` + zero-padded decimal ``numbers`` (``acc_00000042``), optionally quoted."""
    return fixed_width(id_matrix(prefix, numbers, width, quoted=quoted))


Piece: TypeAlias = str | np.ndarray | pa.Array


def join_pieces(pieces: list[Piece], n: int) -> pa.Array:
    """Concatenate per-row pieces: constants, fixed-width matrices and Arrow string arrays.

    Runs of constants and matrices are first merged into one matrix (a cheap numpy
    ``hstack``), so Arrow joins only a few arrays per row.
    """
    merged: list[Piece] = []
    run: list[np.ndarray | str] = []

    def flush() -> None:
        if any(isinstance(p, np.ndarray) for p in run):
            widths = [len(p.encode()) if isinstance(p, str) else p.shape[1] for p in run]
            out = np.empty((n, sum(widths)), dtype=np.uint8)
            pos = 0
            for p, w in zip(run, widths, strict=True):
                out[:, pos : pos + w] = (
                    np.frombuffer(p.encode(), dtype=np.uint8) if isinstance(p, str) else p
                )
                pos += w
            merged.append(fixed_width(out))
        elif run:
            merged.append("".join(run))  # type: ignore[arg-type]
        run.clear()

    for piece in pieces:
        if isinstance(piece, (str, np.ndarray)):
            run.append(piece)
        else:
            flush()
            merged.append(piece)
    flush()
    if len(merged) == 1:
        only = merged[0]
        return only if isinstance(only, pa.Array) else pa.array([only] * n, pa.string())
    return pc.binary_join_element_wise(*merged, "")


def as_array(piece: Piece) -> pa.Array:
    """A column piece as an Arrow string array."""
    return fixed_width(piece) if isinstance(piece, np.ndarray) else piece


def integers(values: np.ndarray) -> pa.StringArray:
    """Integers in plain decimal notation."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def decimals(values: np.ndarray, places: int) -> pa.StringArray:
    """Non-negative numbers with exactly ``places`` decimals (``1.085000``), rounded half up."""
    scaled = np.floor(np.asarray(values, dtype=np.float64) * 10**places + 0.5).astype(np.int64)
    whole = integers(scaled // 10**places)
    frac = padded_ids("", scaled % 10**places, places)
    return pc.binary_join_element_wise(whole, frac, ".")


def numbers(values: np.ndarray) -> pa.StringArray:
    """Numbers with up to two decimals, integral ones without a point (``20``, ``12.5``)."""
    cents = np.round(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    whole = integers(cents // 100)
    rest = cents % 100
    frac = pc.if_else(
        pa.array(rest % 10 == 0),
        integers(rest // 10),
        padded_ids("", rest, 2),
    )
    joined = pc.binary_join_element_wise(whole, frac, ".")
    return pc.if_else(pa.array(rest == 0), whole, joined)


def take(values: list[str] | pa.Array, codes: np.ndarray) -> pa.StringArray:
    """Look up ``codes`` in a small vocabulary of strings."""
    vocab = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return vocab.take(pa.array(np.asarray(codes, dtype=np.int64)))


def bools(values: np.ndarray) -> pa.StringArray:
    """Booleans as ``true``/``false`` (valid both as JSON and as contract CSV)."""
    return take(["false", "true"], np.asarray(values, dtype=np.int64))


def nullable(text: pa.Array, is_null: np.ndarray, *, json: bool) -> pa.Array:
    """Replace values where ``is_null`` by JSON ``null`` or by a CSV null (empty field)."""
    mask = pa.array(np.asarray(is_null, dtype=bool))
    if json:
        return pc.if_else(mask, JSON_NULL, text)
    return pc.if_else(mask, pa.scalar(None, pa.string()), text)


def quoted(text: pa.Array) -> pa.Array:
    """JSON string literal of text known to need no escaping (ids, enums)."""
    return pc.binary_join_element_wise('"', text, '"', "")


def csv_field(text: pa.Array) -> pa.Array:
    """RFC 4180 quoting where needed; null becomes the empty field."""
    text = pc.fill_null(text, "")
    needs = pc.match_substring_regex(text, '[",\r\n]')
    escaped = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, escaped, text)


def concat_bytes(lines: pa.Array) -> bytes | memoryview:
    """The bytes of all values of a string/binary array, back to back."""
    if len(lines) == 0:
        return b""
    arr = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if arr.type in (pa.large_string(), pa.large_binary()):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    else:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    start = int(offsets[arr.offset])
    stop = int(offsets[arr.offset + len(arr)])
    return memoryview(arr.buffers()[2])[start:stop]
