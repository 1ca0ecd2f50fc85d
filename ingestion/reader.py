"""Stream a landing file into Arrow chunks of raw lines or CSV fields, with line numbers.

Nothing here interprets values: the reader only finds records and keeps each one's
physical line number, so the validator can quarantine a bad row and name its line. Files
are read in fixed-size blocks, so memory stays bounded whatever the file's size
(RELIABILITY B11). File names are never handed to SQL: bytes go to DuckDB as Arrow.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakecore.errors import FileRejectedError
from lakecore.settings import DEFAULT_BLOCK_BYTES

#: Bytes read per block unless the caller says otherwise (``Settings.block_bytes``).
BLOCK_BYTES = DEFAULT_BLOCK_BYTES
BOM = b"\xef\xbb\xbf"
#: A quoted CSV field may span at most this many physical lines before the opening line
#: is judged an unterminated quote.
MAX_RECORD_LINES = 20


@dataclass
class ReadStats:
    """What the reader saw; blank lines are not rows and are only counted."""

    blank_lines: int = 0


def iter_line_blocks(path: Path, block_bytes: int | None = None) -> Iterator[tuple[int, pa.Array]]:
    r"""Yield ``(first_line_number, lines)`` per block; ``lines`` is a binary array.

    Each value is one physical line including its line terminator (``\\n``, ``\\r\\n``), so
    line numbers are exact. The split is vectorised (numpy over the block's bytes, Arrow
    buffers built from the newline offsets): no Python work per line.
    """
    block_bytes = block_bytes or BLOCK_BYTES
    next_line = 1
    carry = b""
    first = True
    with path.open("rb") as fh:
        while True:
            block = fh.read(block_bytes)
            data = carry + block if carry else block
            if first:
                first = False
                if data.startswith(BOM):
                    data = data[len(BOM):]
            if not block:
                if data:
                    offsets = np.array([0, len(data)], dtype=np.int64)
                    yield next_line, _binary_array(data, offsets)
                return
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if newlines.size == 0:
                carry = data
                continue
            end = int(newlines[-1]) + 1
            offsets = np.concatenate(([0], newlines + 1)).astype(np.int64)
            yield next_line, _binary_array(data[:end], offsets)
            next_line += int(newlines.size)
            carry = data[end:]


def line_contents(lines: pa.Array) -> pa.Array:
    r"""The lines of ``iter_line_blocks`` without their terminators (every trailing CR, LF).

    Equal to SQL ``rtrim(line, chr(13) || chr(10))`` value by value, done once per block in
    numpy (a byte mask, no Python work per line): the validating statement refers to the
    text many times, and DuckDB repeats an expression for every filter it pushes down.
    """
    count = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=count + 1,
                            offset=lines.offset * 8)
    buffer = lines.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    starts = offsets[:-1]
    ends = offsets[1:].copy()
    keep = np.ones(data.size, dtype=np.bool_)
    while True:
        last = ends - 1
        filled = ends > starts
        if not filled.any():
            break
        tail = data[np.where(filled, last, 0)]
        strip = filled & ((tail == 10) | (tail == 13))
        if not strip.any():
            break
        keep[last[strip]] = False
        ends[strip] -= 1
    span = slice(int(offsets[0]), int(offsets[-1]))
    content = data[span][keep[span]]
    new_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=new_offsets[1:])
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), count, [None, pa.py_buffer(new_offsets), pa.py_buffer(content)])


def _binary_array(data: bytes, offsets: np.ndarray) -> pa.Array:
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------


def check_line_ends(path: Path) -> None:
    """Reject a file whose lines end in a bare CR (classic Mac OS line ends).

    Read as LF-terminated lines, all of its rows would merge into one.

    Raises:
        FileRejectedError: The first 64 KiB hold a CR and no LF.
    """
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    if b"\r" in head and b"\n" not in head:
        raise FileRejectedError(str(path), "lines end in a bare CR (classic Mac line ends); "
                                "convert the file to LF or CRLF line ends")


def read_csv_header(path: Path, required: tuple[str, ...]) -> list[str]:
    """Parse the header row; reject the file when it is unreadable or lacks columns (B4)."""
    with path.open("rb") as fh:
        first = fh.readline()
    if first.startswith(BOM):
        first = first[len(BOM):]
    if not first.strip():
        return []
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRejectedError(str(path), "header row is not valid UTF-8") from None
    header = next(csv.reader([text]))
    header = [h.strip() for h in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise FileRejectedError(str(path), f"duplicate columns in header: {', '.join(duplicates)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise FileRejectedError(
            str(path), f"header lacks required columns: {', '.join(missing)}"
        )
    return header


def iter_csv_chunks(
    path: Path, header: list[str], stats: ReadStats, block_bytes: int | None = None
) -> Iterator[pa.Table]:
    """Yield Arrow tables of CSV records (after the header) with their line numbers.

    Records follow RFC 4180, including quoted fields over several lines. A line that opens
    a quote which no later line (within ``MAX_RECORD_LINES``) closes into a record of the
    header's width is quarantined alone as an unterminated quote, and reading resumes on
    the next line, so one bad quote never swallows the rest of the file.
    """
    width = len(header)
    pending: list[tuple[int, bytes]] = []
    for first_line, block in iter_line_blocks(path, block_bytes):
        lines = block.to_pylist()
        pending.extend(zip(range(first_line, first_line + len(lines)), lines, strict=True))
        # Keep a tail unparsed in case a quoted record continues into the next block.
        keep = MAX_RECORD_LINES if len(lines) > MAX_RECORD_LINES else 0
        ready, pending = (pending[:-keep], pending[-keep:]) if keep else (pending, [])
        if ready:
            yield _parse_csv_lines(ready, width, stats, more=pending)
    if pending:
        yield _parse_csv_lines(pending, width, stats, more=[])


def _parse_csv_lines(
    lines: list[tuple[int, bytes]],
    width: int,
    stats: ReadStats,
    more: list[tuple[int, bytes]],
) -> pa.Table:
    """Parse a block of CSV lines into the chunk table the validation query reads.

    Three steps, each its own function: lines to records (``_csv_records``: decoding,
    blank lines, NUL bytes, quoted fields that span lines, looking into ``more`` for
    their continuation), records to fields (``_split_records``), and fields to the
    columns ``_line_number, _raw, _struct_error, c0..cN`` (``_chunk_table``).
    """
    records = _csv_records(lines, stats, more, width)
    rows = _split_records(records)
    return _chunk_table(records, rows, width)


@dataclass
class _Records:
    """Line-level outcome of a block: one entry per record (or per bad line)."""

    numbers: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)

    def add(self, number: int, raw: bytes, *, error: str | None = None,
            text: str | None = None) -> None:
        self.numbers.append(number)
        self.raws.append(raw)
        self.errors.append(error)
        self.texts.append(text)


def _csv_records(lines: list[tuple[int, bytes]], stats: ReadStats,
                 more: list[tuple[int, bytes]], width: int) -> _Records:
    """Lines to CSV records: bad lines get their reason, quoted line breaks are joined."""
    out = _Records()
    all_lines = lines + more
    i = 0
    while i < len(lines):
        number, raw = all_lines[i]
        i += 1
        if number == 1:  # the header
            continue
        text = _decode(raw)
        if text is None:
            out.add(number, raw, error="invalid UTF-8 (is the file Latin-1?)")
            continue
        if not text.strip():
            stats.blank_lines += 1
            continue
        if "\x00" in text:
            out.add(number, raw, error="NUL byte in line")
            continue
        if text.count('"') % 2 == 1:
            joined, used = _join_quoted(all_lines, i - 1, width)
            if joined is None:
                out.add(number, raw, error="unterminated quoted field")
                continue
            text, i = joined, i - 1 + used
        out.add(number, text.encode("utf-8"), text=text)
    return out


def _split_records(records: _Records) -> list[list[str] | None]:
    """Records to fields with the csv module (strict); a malformed record gets its reason."""
    rows: list[list[str] | None] = [None] * len(records.texts)
    good = [k for k, text in enumerate(records.texts) if text is not None]
    try:
        parsed = list(csv.reader([records.texts[k] for k in good], strict=True))  # type: ignore[misc]
        if len(parsed) != len(good):
            raise csv.Error("record count mismatch")
        for k, parsed_row in zip(good, parsed, strict=True):
            rows[k] = parsed_row
    except csv.Error:  # find the culprits one by one
        for k in good:
            try:
                rows[k] = next(csv.reader(io.StringIO(records.texts[k]), strict=True))
            except (csv.Error, StopIteration) as exc:
                records.errors[k] = f"malformed CSV: {exc}"
    return rows


def _chunk_table(records: _Records, rows: list[list[str] | None], width: int) -> pa.Table:
    """Fields to the chunk columns; a row with the wrong field count gets its reason."""
    errors = records.errors
    columns: list[list[str | None]] = [[] for _ in range(width)]
    for k, row in enumerate(rows):
        if errors[k] is None and row is not None and len(row) != width:
            errors[k] = f"expected {width} fields, found {len(row)}"
        ok = errors[k] is None and row is not None
        for idx in range(width):
            columns[idx].append((row[idx] or None) if ok else None)  # type: ignore[index]
    arrays = {
        "_line_number": pa.array(records.numbers, pa.int64()),
        "_raw": pa.array(records.raws, pa.large_binary()),
        "_struct_error": pa.array(errors, pa.string()),
    }
    for idx in range(width):
        arrays[f"c{idx}"] = pa.array(columns[idx], pa.string())
    return pa.table(arrays)


def _join_quoted(
    all_lines: list[tuple[int, bytes]], start: int, width: int
) -> tuple[str | None, int]:
    parts: list[str] = []
    quotes = 0
    for j in range(start, min(start + MAX_RECORD_LINES, len(all_lines))):
        text = _decode(all_lines[j][1])
        if text is None:
            return None, 1
        parts.append(text)
        quotes += text.count('"')
        if quotes % 2 == 0:
            record = "".join(parts)
            try:
                row = next(csv.reader(io.StringIO(record), strict=True))
            except csv.Error:
                return None, 1
            return (record, j - start + 1) if len(row) == width else (None, 1)
    return None, 1


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
