"""Write rendered rows into the landing layout ``<source>/<entity>/<export_date>/part-NNNN``."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.contract import ENTITIES, Entity
from ingestion.simulator import _fmt as f
from ingestion.simulator.dirty import (
    EXTRA_CSV_COLUMN,
    EXTRA_CSV_VALUE,
    Damage,
    corrupt,
    damage_line,
)
from ingestion.simulator.tables import Columns, Table

BOM = b"\xef\xbb\xbf"
EPOCH = date(1970, 1, 1)
_ENTITY_INDEX = {name: i for i, name in enumerate(ENTITIES)}


def day_to_date(day: int) -> date:
    """Epoch day number to a calendar date."""
    return EPOCH + timedelta(days=int(day))


def month_key(secs: np.ndarray) -> np.ndarray:
    """Months since 1970 of epoch-second instants."""
    return (secs // f.SECONDS_PER_DAY).astype("datetime64[D]").astype("datetime64[M]").astype(
        np.int64
    )


#: Rows rendered at once: small enough for temporaries to stay in CPU caches.
CHUNK_ROWS = 32_768
#: Renders the rows at the given positions (0-based within the file) into columns.
Renderer = Callable[[np.ndarray], Columns]


class LandingWriter:
    """Renders and writes files, and keeps the counts the simulation summary reports.

    Files are rendered in chunks of ``CHUNK_ROWS`` rows and written as they are produced,
    so memory stays bounded and temporaries stay small. With ``workers`` > 0 a thread
    pool renders files in the background (useful only with real spare cores: Arrow and
    numpy release the GIL); results are collected in submission order, and every file's
    bytes depend only on its own inputs, so the output is identical either way.
    """

    def __init__(self, landing: Path, seed: int, dirty_share: float,
                 progress: Callable[[str], None] | None, workers: int = 0) -> None:
        """Write under ``landing``; ``seed`` and ``dirty_share`` drive the injected bad rows.

        ``progress`` receives one line per entity written (its row count); ``workers`` threads
        render in the background (0 renders in the calling thread).
        """
        self.landing = landing
        self.seed = seed
        self.dirty_share = dirty_share
        self.progress = progress
        self.files = 0
        self.bytes = 0
        self.rows: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()
        self.days: set[date] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
        self._inflight: deque[tuple[str, int, Future[tuple[int, int, int]]]] = deque()
        self._max_inflight = workers + 1
        self._folders: set[Path] = set()

    def path_for(self, ent: Entity, day: int, part: int) -> Path:
        """Where a file goes: ``<landing>/<source>/<entity>/<YYYY-MM-DD>/part-NNNN.ext``."""
        folder = self.landing / ent.source / ent.name / day_to_date(day).isoformat()
        return folder / f"part-{part:04d}.{ent.format}"

    def submit(self, ent: Entity, day: int, part: int, n: int, render: Renderer, *,
               first: bool = False) -> None:
        """Render and write one file (one batch) of ``n`` rows.

        ``first`` marks the entity's first file, which gets at least one bad row in dirty
        mode.
        """
        path = self.path_for(ent, day, part)
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        fut: Future[tuple[int, int, int]]
        if self._pool is None:
            fut = Future()
            fut.set_result(self._write_file(ent, path, day, part, n=n, render=render,
                                            first=first))
        else:
            fut = self._pool.submit(self._write_file, ent, path, day, part, n=n, render=render,
                                    first=first)
        self._inflight.append((ent.qualified, day, fut))
        while len(self._inflight) > self._max_inflight or (self._pool is None and self._inflight):
            self._collect()

    def _collect(self) -> None:
        name, day, fut = self._inflight.popleft()
        nbytes, rows, bad = fut.result()
        self.files += 1
        self.bytes += nbytes
        self.rows[name] += rows
        self.bad[name] += bad
        self.days.add(day_to_date(day))

    def close(self) -> None:
        """Wait for every file and stop the workers."""
        try:
            while self._inflight:
                self._collect()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)

    def _write_file(self, ent: Entity, path: Path, day: int, part: int, *, n: int,
                    render: Renderer, first: bool) -> tuple[int, int, int]:
        """Write one file; returns (bytes, data lines, bad lines)."""
        with path.open("wb") as fh:
            if self.dirty_share > 0:
                rng = np.random.default_rng(
                    [self.seed, 99, _ENTITY_INDEX[ent.qualified], day, part]
                )
                dmg = corrupt(ent, render(np.arange(n)), self.dirty_share, rng, first=first)
                data = header_bytes(ent, dmg) + body_bytes(ent, dmg.columns, dmg)
                fh.write(data)
                return len(data), n + dmg.copies + len(dmg.duplicates), dmg.bad_rows
            size = fh.write(header_bytes(ent, None))
            for lo in range(0, n, CHUNK_ROWS):
                size += fh.write(body_bytes(ent, render(np.arange(lo, min(n, lo + CHUNK_ROWS))),
                                            None))
            return size, n, 0

    def write_table(self, table: Table, first_daily: int, last_day: int, *,
                    split_backfill: bool) -> None:
        """Write every row: one backfill export (split by month), then one per day."""
        ent = table.entity
        day = (table.export_day.astype(np.int32) if table.export_day is not None
               else (table.time // f.SECONDS_PER_DAY).astype(np.int32))
        np.maximum(day, first_daily - 1, out=day)  # everything before is in the backfill
        keep = day <= last_day
        if keep.all():
            order = np.lexsort((table.time, day))
        else:
            rows = np.flatnonzero(keep)
            order = rows[np.lexsort((table.time[rows], day[rows]))]
            del rows
        del keep
        bounds = np.flatnonzero(np.diff(day[order])) + 1
        first = True
        for group in np.split(order, bounds):
            if not len(group):
                continue
            export = int(day[group[0]])
            if export < first_daily and split_backfill:
                months = month_key(table.time[group])
                cuts = np.flatnonzero(np.diff(months)) + 1
                parts = np.split(group, cuts)
            else:
                parts = [group]
            for number, rows in enumerate(parts, start=1):
                self.submit(ent, export, number, len(rows), _rows_renderer(table, rows),
                            first=first)
                first = False
        if self.progress:
            self.progress(f"{ent.qualified}: {len(order):,} rows")


def _rows_renderer(table: Table, rows: np.ndarray) -> Renderer:
    """Render positions of a file whose rows are ``rows`` of ``table``."""
    def render(pos: np.ndarray) -> Columns:
        return table.render(rows[pos])
    return render


def header_bytes(ent: Entity, dmg: Damage | None) -> bytes:
    """The CSV header line (with BOM / extra column in dirty mode); nothing for JSONL."""
    if ent.format == "jsonl":
        return b""
    names = list(ent.column_names)
    if dmg is not None and dmg.extra_column:
        names.append(EXTRA_CSV_COLUMN)
    head = (",".join(names) + ("\r\n" if dmg is not None and dmg.crlf else "\n")).encode()
    return BOM + head if dmg is not None and dmg.bom else head


def body_bytes(ent: Entity, columns: Columns, dmg: Damage | None) -> bytes | memoryview:
    """The data lines of rendered rows, damage applied in dirty mode."""
    names = ent.column_names
    json = ent.format == "jsonl"
    newline = "\r\n" if dmg is not None and dmg.crlf else "\n"
    n = len(next(iter(columns.values())))
    pieces: list[f.Piece] = []
    if json:
        for i, name in enumerate(names):
            pieces += [("{" if i == 0 else ",") + f'"{name}":', columns[name]]
        pieces.append("}")
    else:
        for name in names:
            value = columns[name]
            pieces += [",", value if isinstance(value, np.ndarray) else f.csv_field(value)]
        pieces = pieces[1:]
        if dmg is not None and dmg.extra_column:
            pieces.append("," + EXTRA_CSV_VALUE)
    if dmg is None:
        return f.concat_bytes(f.join_pieces([*pieces, newline], n))
    lines = _damage_lines(f.join_pieces(pieces, n), dmg, json)
    return f.concat_bytes(pc.binary_join_element_wise(lines, newline.encode(), b""))


def _damage_lines(lines: pa.Array, dmg: Damage, json: bool) -> pa.Array:
    """Line-level corruptions, duplicates and the final unterminated quote."""
    out = lines.cast(pa.binary())
    n = len(out)
    edits = dict(dmg.line_kinds)
    if dmg.unterminated >= 0:
        edits[dmg.unterminated] = "unterminated"
    if edits:
        rows = sorted(edits)
        new = []
        for r in rows:  # only the few damaged lines
            line = out[r].as_py()
            kind = edits[r]
            new.append(b'"' + line if kind == "unterminated" else damage_line(line, kind, json))
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out = pc.replace_with_mask(out, pa.array(mask), pa.array(new, pa.binary()))
    main = np.arange(n)
    tail = np.zeros(0, dtype=np.int64)
    if dmg.unterminated >= 0:
        main = main[main != dmg.unterminated]
        tail = np.array([dmg.unterminated])
    order = np.concatenate([main, dmg.duplicates, tail]).astype(np.int64)
    return out.take(pa.array(order))
