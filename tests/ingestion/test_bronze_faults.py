"""Faults (RELIABILITY F1, F2, F5, F6, F8): real processes killed, a real full disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingestion import reader
from ingestion.loader import ingest, list_orphans
from ingestion.manifest import Manifest
from lakecore.errors import PipelineLockedError, StorageError
from lakecore.settings import Settings
from tests.helpers import PROJECT
from tests.helpers.disk import tmpfs
from tests.helpers.landing import WriteLanding, bronze_rows, subscription

SUBS = "billing/subscriptions/2024-03-01/part-0001.jsonl"


def many_subscriptions(n: int) -> str:
    return "".join(subscription(subscription_id=f"s{i:06d}") + "\n" for i in range(n))


def start_ingest(settings: Settings, pause_at: str | None = None,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run `lakehouse ingest` as a real subprocess, optionally pausing at a fault point."""
    env = {**os.environ, "LAKEHOUSE_ROOT": str(settings.root), **(extra_env or {})}
    if pause_at:
        env["LAKEHOUSE_PAUSE_AT"] = pause_at
    return subprocess.Popen(
        [sys.executable, "-m", "saaslake.cli", "ingest"], cwd=PROJECT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def kill_at(settings: Settings, point: str, **env: str) -> None:
    proc = start_ingest(settings, pause_at=point, extra_env=env)
    wait_for(settings.meta / f"paused-at-{point}", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (settings.meta / f"paused-at-{point}").unlink()


def test_f1_sigkill_while_writing_bronze_leaves_nothing_visible(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given a landing file big enough for several Bronze blocks, when the loader is SIGKILLed after
    writing its first block, then nothing is at a final path or committed, and the next run cleans
    the staging file up and loads the batch exactly once."""
    # Given a landing file big enough to be written in several blocks
    write_landing(SUBS, many_subscriptions(3000))
    # When the loader is SIGKILLed after writing its first block of Bronze rows
    kill_at(settings, "during_bronze_write", LAKEHOUSE_BLOCK_BYTES="100000")
    # Then nothing is at a final path and no batch is committed
    assert not list(settings.bronze.rglob("*.parquet"))
    assert Manifest(settings.manifest_path).batches() == []
    assert list_orphans(settings)  # the half-written staging file is listed
    # And the next run cleans up and loads the batch exactly once
    report = ingest(settings)
    assert report.count("loaded") == 1
    assert report.orphans_removed
    assert len(bronze_rows(settings, "billing/subscriptions")) == 3000
    assert list_orphans(settings) == []
    assert ingest(settings).count("duplicate") == 1


def test_f2_sigkill_after_rename_before_commit_keeps_file_invisible(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given a landing file, when the loader is SIGKILLed after renaming its Bronze file but before
    the manifest commit, then the file stays invisible and is listed as an orphan, and the rerun
    removes it and commits the batch once."""
    # Given a landing file
    write_landing(SUBS, many_subscriptions(50))
    # When the loader is SIGKILLed after renaming its Bronze file, before the commit
    kill_at(settings, "before_commit")
    # Then the renamed file exists at its final path but is not committed: invisible, listed
    on_disk = list(settings.bronze.rglob("*.parquet"))
    assert len(on_disk) == 1
    assert Manifest(settings.manifest_path).batches() == []
    assert bronze_rows(settings, "billing/subscriptions") == []
    assert list_orphans(settings) == [on_disk[0].relative_to(settings.root).as_posix()]
    # And the rerun cleans the orphan and commits once
    report = ingest(settings)
    assert report.count("loaded") == 1
    assert len(bronze_rows(settings, "billing/subscriptions")) == 50
    assert len(Manifest(settings.manifest_path).batches()) == 1
    assert list_orphans(settings) == []


def test_f6_second_run_is_refused_naming_the_holder(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given an ingest paused before its commit (holding the pipeline lock), when a second ingest
    starts in this process and through the CLI, then both are refused naming the holder (the CLI in
    one line, exit code 3), and once the holder is killed a rerun lands every row once."""
    # Given an ingest run paused before its commit, holding the pipeline lock
    write_landing(SUBS, many_subscriptions(10))
    proc = start_ingest(settings, pause_at="before_commit")
    try:
        wait_for(settings.meta / "paused-at-before_commit", proc)
        # When a second run starts, then it is refused naming the holder
        with pytest.raises(PipelineLockedError) as caught:
            ingest(settings)
        assert f"pid {proc.pid}" in str(caught.value)
        assert "'ingest'" in str(caught.value)
        # And the CLI says the same in one line, exit code 3, no traceback
        cli = subprocess.run(
            [sys.executable, "-m", "saaslake.cli", "ingest"], cwd=PROJECT,
            env={**os.environ, "LAKEHOUSE_ROOT": str(settings.root)},
            capture_output=True, text=True, check=False,
        )
        assert cli.returncode == 3
        assert cli.stderr.startswith("lakehouse: error: another pipeline run is in progress")
        assert "Traceback" not in cli.stderr
    finally:
        proc.kill()
        proc.wait()
    # And the killed holder's lock is released by the kernel; no duplicates after the rerun
    ingest(settings)
    assert len(bronze_rows(settings, "billing/subscriptions")) == 10


def test_f8_same_file_twice_and_renamed_copy_is_a_no_op(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given an ingested landing file, when it is ingested again and a copy arrives under another
    name and date, then both runs are no-ops saying the bytes were already loaded, and Bronze holds
    the rows once."""
    # Given an ingested landing file
    write_landing(SUBS, many_subscriptions(5))
    first = ingest(settings)
    assert first.count("loaded") == 1
    # When it is ingested again
    again = ingest(settings)
    # Then the run is a no-op that says so
    assert [o.status for o in again.outcomes] == ["duplicate"]
    assert "already loaded" in again.outcomes[0].message
    # When the same bytes arrive under another name and date, then they are the same batch
    shutil.copy(settings.landing / SUBS,
                write_landing("billing/subscriptions/2024-03-05/renamed.jsonl", ""))
    renamed = ingest(settings)
    statuses = sorted((o.landing_file, o.status) for o in renamed.outcomes)
    assert statuses == [(SUBS, "duplicate"),
                        ("billing/subscriptions/2024-03-05/renamed.jsonl", "duplicate")]
    assert f"already loaded as {SUBS}" in next(
        o.message for o in renamed.outcomes if o.landing_file.endswith("renamed.jsonl"))
    assert len(bronze_rows(settings, "billing/subscriptions")) == 5
    assert renamed.summary().startswith("ingest: 0 new batch(es), 0 rows landed")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs mounted for the test (needs root, as in CI)."""
    with tmpfs(tmp_path / "small", "2m") as mount:
        yield mount


def test_f5_disk_full_names_batch_and_path_and_keeps_nothing(
    tmp_path: Path, small_disk: Path
) -> None:
    """Given a lakehouse on a 2 MiB disk and a landing file whose Bronze needs more, when it is
    ingested, then a StorageError names the batch, the path and the full disk and nothing partial is
    left, and after the disk grows the rerun loads every row."""
    # Given a lakehouse on a 2 MiB disk and a landing file (elsewhere) whose Bronze needs more
    settings = Settings.from_env(root=small_disk / "lakehouse", landing=tmp_path / "landing")
    landing = settings.landing / SUBS
    landing.parent.mkdir(parents=True)
    noise = [subscription(subscription_id=os.urandom(24).hex(), account_id=os.urandom(24).hex())
             for _ in range(60000)]
    landing.write_text("\n".join(noise) + "\n")
    # When it is ingested
    with pytest.raises(StorageError) as caught:
        ingest(settings)
    # Then the error names the batch and the path, and nothing partial is left
    message = str(caught.value)
    assert SUBS in message
    assert "no space left on device" in message
    assert str(settings.staging) in message
    assert not list(settings.bronze.rglob("*.parquet"))
    assert not list(settings.staging.glob("*.tmp"))
    assert Manifest(settings.manifest_path).batches() == []
    # And after freeing space (a bigger disk for the same root) the rerun succeeds
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    report = ingest(settings)
    assert report.count("loaded") == 1
    assert len(bronze_rows(settings, "billing/subscriptions")) == 60000


def test_reader_blocks_keep_exact_line_numbers(tmp_path: Path) -> None:
    """Given a JSON Lines file with a BOM, a CRLF line, a blank line and no final newline, when it
    is read in 3-byte blocks, then every line comes out whole with its 1-based number (the BOM
    dropped)."""
    # Given a file with a BOM, a CRLF line, a blank line and a last line without newline
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xef\xbb\xbfa\nbb\r\n\nccc")
    # When it is read in blocks of 3 bytes
    blocks = list(reader.iter_line_blocks(path, block_bytes=3))
    lines = [(first + i, v) for first, arr in blocks for i, v in enumerate(arr.to_pylist())]
    # Then lines split across tiny blocks keep their numbers; a last line without newline counts
    assert lines == [(1, b"a\n"), (2, b"bb\r\n"), (3, b"\n"), (4, b"ccc")]
    assert json.loads("[]") == []


def test_line_contents_strip_terminators_like_sql_rtrim() -> None:
    """Given lines with LF, CRLF, stray CRs, a blank line, an empty last line and bytes that are
    not UTF-8, when their contents are taken (also from a slice), then each is the line without
    its trailing CRs and LFs, what DuckDB's ``rtrim(line, chr(13) || chr(10))`` gives."""
    # Given lines as the reader yields them, and a slice of them
    raw = [b"a\n", b"bb\r\n", b"\r\r\n", b"\n", b"x\ry\n", b"\xff\xfe\r\n", b"\n\r", b"ccc",
           b""]
    lines = pa.array(raw, pa.large_binary())
    # When their contents are taken
    contents = reader.line_contents(lines).to_pylist()
    sliced = reader.line_contents(lines.slice(1, 4)).to_pylist()
    # Then they match SQL rtrim of CR and LF, value by value
    blobs = ", ".join(f"({k}, '" + "".join(f"\\x{b:02X}" for b in line) + "'::BLOB)"
                      for k, line in enumerate(raw) if k != 5)
    with duckdb.connect() as con:
        expected = [v for (v,) in con.execute(
            f"select rtrim(decode(v), chr(13) || chr(10)) from (values {blobs}) t(k, v) "
            "order by k").fetchall()]
    assert contents == [b"a", b"bb", b"", b"", b"x\ry", b"\xff\xfe", b"", b"ccc", b""]
    assert [c.decode() for k, c in enumerate(contents) if k != 5] == expected
    assert sliced == [b"bb", b"", b"", b"x\ry"]


@pytest.mark.slow
def test_b11_a_file_larger_than_the_memory_limit_streams_through(settings: Settings) -> None:
    """Given a 150 MB users export and DuckDB's memory limit at its 128 MiB minimum (B11), when
    it is ingested, then it streams through in blocks: every line lands once, in one batch, and
    nothing runs out of memory."""
    # Given a users export larger than the memory limit
    path = settings.landing / "app/users/2025-03-01/part-0001.csv"
    path.parent.mkdir(parents=True)
    lines = 1_100_000
    line = ("usr_{:09d},acc_{:08d},someone.with.a.long.name{:09d}@example-company.example.com,"
            "member,2024-02-01T14:04:19Z,2024-02-01T14:04:19Z,\n")
    with path.open("w") as fh:
        fh.write("user_id,account_id,email,role,created_at,updated_at,deleted_at\n")
        fh.writelines(line.format(i, i % 50_000, i) for i in range(lines))
    assert path.stat().st_size > 128 * 2**20
    # When it is ingested with the smallest memory limit
    done = subprocess.run(
        [sys.executable, "-m", "saaslake.cli", "--root", str(settings.root), "--quiet",
         "ingest"], cwd=PROJECT, capture_output=True, text=True, check=False,
        env={**os.environ, "LAKEHOUSE_MEMORY_LIMIT": "128MiB"})
    # Then every line landed once, in one batch
    assert done.returncode == 0, done.stderr
    assert f"1 new batch(es), {lines:,} rows landed, 0 quarantined" in done.stdout
    files = [str(p) for p in (settings.bronze / "app" / "users").rglob("*.parquet")]
    assert len(files) == 1
    assert duckdb.execute("select count(*), count(distinct user_id), max(_line_number) "
                          "from read_parquet($f)", {"f": files}).fetchone() == (
        lines, lines, lines + 1)
