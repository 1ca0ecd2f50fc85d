"""The lakehouse with its data in S3 (a real moto server; ADR 0020).

Gold built from data in a bucket equals Gold built locally from the same landing files,
table by table; a run killed between upload and commit loads each batch once when rerun;
a wrong secret or bucket is one line that names the bucket.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from ingestion.loader import ingest, list_orphans
from ingestion.manifest import Manifest
from lakecore.errors import ConfigError
from lakecore.settings import Settings
from saaslake.cli import main
from tests.helpers import PROJECT
from tests.storage.conftest import BUCKET, upload_kitchen_sink
from transform.readonly import open_surface
from transform.warehouse import current_publication

#: One worker runs them all under `pytest -n 2 --dist loadgroup`: one moto server, one build.
pytestmark = [pytest.mark.xdist_group("s3"), pytest.mark.slow]

#: Gold columns that record when the build ran, not what the data says.
RUN_COLUMNS = {"last_ingested_at"}


def gold_tables(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every Gold table of the published build: its rows (run-time columns left out), sorted."""
    surface = open_surface(settings, bronze=False, publication=current_publication(settings))
    try:
        con = surface.cursor()
        names = [name for (name,) in con.execute(
            "select view_name from duckdb_views() where schema_name = 'gold' "
            "order by 1").fetchall()]
        tables = {}
        for name in names:
            columns = [c for (c,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'gold' and "
                "table_name = ? order by column_index", [name]).fetchall()
                if c not in RUN_COLUMNS]
            listed = ", ".join(f'"{c}"' for c in columns)
            tables[name] = con.execute(f'select {listed} from gold."{name}" '
                                       "order by all").fetchall()
        return tables
    finally:
        surface.close()


def same_row(left: tuple[object, ...], right: tuple[object, ...]) -> bool:
    return len(left) == len(right) and all(
        math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
        if isinstance(a, float) and isinstance(b, float) else a == b
        for a, b in zip(left, right, strict=True))


def test_gold_built_from_s3_equals_gold_built_locally(kitchen_sink_lake: Settings,
                                                      s3_kitchen_sink_lake: Settings) -> None:
    """Given the kitchen-sink landing zone run through the pipeline once on a local root and once
    on s3://bucket/prefix, when both published Gold builds are read, then every Gold table holds
    the same rows."""
    # Given both lakehouses built and published (the session fixtures)
    # When Gold is read from each
    local, remote = gold_tables(kitchen_sink_lake), gold_tables(s3_kitchen_sink_lake)
    # Then the same tables hold the same rows, table by table
    assert sorted(remote) == sorted(local)
    assert len(local) >= 10
    for name, rows in local.items():
        assert len(remote[name]) == len(rows), name
        assert all(same_row(a, b) for a, b in zip(remote[name], rows, strict=True)), name
    assert sum(len(rows) for rows in local.values()) > 100


def test_s3_root_keeps_data_in_the_bucket_and_answers_every_command(
        s3_kitchen_sink_lake: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Given the kitchen-sink lakehouse on S3, when its objects and state folder are listed and
    `status`, `sql`, `verify` and the report run, then Bronze, Silver and Gold are objects in the
    bucket, the local state holds no data file, and each command answers from the bucket."""
    settings = s3_kitchen_sink_lake
    assert settings.store is not None
    # When the bucket and the state folder are listed
    objects = settings.store.listing()
    # Then every committed Bronze file is an object, and Silver/Gold data files are objects
    manifest = Manifest(settings.manifest_path, read_only=True)
    committed = {b.bronze_file for b in manifest.batches() if b.bronze_file}
    landed = sum(b.landed_rows for b in manifest.batches())
    manifest.close()
    assert committed
    assert committed <= set(objects)
    assert {name.split("/")[0] for name in objects} >= {"landing", "bronze", "silver", "gold"}
    local_parquet = [p.relative_to(settings.root).as_posix()
                     for p in settings.root.rglob("*.parquet")]
    assert local_parquet
    assert all(p.startswith("_meta/schemas/") for p in local_parquet)
    # When the commands run (the variables of the lakehouse set, as a user would)
    monkeypatch.setenv("LAKEHOUSE_ROOT", settings.data_root)
    monkeypatch.setenv("LAKEHOUSE_STATE", str(settings.root))
    for name, value in (("AWS_ACCESS_KEY_ID", settings.store.credentials.key_id),
                        ("AWS_SECRET_ACCESS_KEY", settings.store.credentials.secret),
                        ("AWS_ENDPOINT_URL", settings.store.credentials.endpoint_url)):
        monkeypatch.setenv(name, str(value))
    capsys.readouterr()
    assert main(["--quiet", "status"]) == 0
    status = capsys.readouterr().out
    assert f"lakehouse at s3://{BUCKET}/kitchen-sink (state in {settings.root})" in status
    assert "uncommitted" not in status
    assert main(["sql", "--format", "csv", "select (select count(*) from bronze.subscriptions)"
                 " + (select count(*) from bronze.accounts) + (select count(*) from "
                 "bronze.events) + (select count(*) from bronze.users) + (select count(*) "
                 "from bronze.plans) + (select count(*) from bronze.fx_rates) + (select "
                 "count(*) from bronze.invoices) as n"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", str(landed)]
    assert main(["sql", "--format", "csv", "select count(*) > 0 as built from "
                 "gold.fct_account_mrr_monthly"]) == 0
    assert capsys.readouterr().out.splitlines() == ["built", "True"]
    assert main(["--quiet", "verify"]) == 0
    assert f"verify: {len(committed) + sum(1 for o in objects if o.startswith('quarantine/'))}"\
        in capsys.readouterr().out
    from analytics.report import write_report
    index = write_report(settings, out_dir=tmp_path / "report", formats=("svg",))
    assert "SaaS revenue report" in index.read_text()
    # Then no credential reached a file of the state folder (logs, dbt artifacts, ledger)
    secret = str(settings.store.credentials.secret).encode()
    files = [p for p in settings.root.rglob("*") if p.is_file()]
    assert len(files) > 20
    assert [p for p in files if secret in p.read_bytes()] == []


def test_ingest_killed_after_upload_then_rerun_loads_each_batch_once(
        s3_lake: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Given the kitchen-sink landing zone in S3, when an ingest is SIGKILLed after uploading its
    first group's Bronze objects but before committing them, then nothing is committed, the
    objects are listed as orphans and removed by `verify --remove-orphans`, and the rerun
    commits each batch exactly once; a third run loads nothing."""
    settings = s3_lake
    assert settings.store is not None
    landing_files = upload_kitchen_sink(settings)
    # When an ingest is killed at the commit, its objects already in the bucket
    env = {**os.environ, "LAKEHOUSE_PAUSE_AT": "before_commit"}
    proc = subprocess.Popen([sys.executable, "-m", "saaslake.cli", "--quiet", "ingest"],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    marker = settings.meta / "paused-at-before_commit"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the ingest never paused"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    marker.unlink()
    # Then nothing is committed, and the uploaded objects are orphans that status lists
    assert Manifest(settings.manifest_path).batches() == []
    orphans = list_orphans(settings)
    assert orphans
    assert all(o.startswith(("bronze/", "quarantine/")) for o in orphans)
    assert set(orphans) <= set(settings.store.listing())
    assert main(["status"]) == 0
    assert f"{len(orphans)} uncommitted file(s)" in capsys.readouterr().out
    # When `verify --remove-orphans` runs, then exactly those objects are deleted
    assert main(["--quiet", "verify", "--remove-orphans"]) == 0
    assert (f"verify: removed {len(orphans)} uncommitted file(s) of an interrupted run"
            in capsys.readouterr().out)
    assert list_orphans(settings) == []
    assert not set(orphans) & set(settings.store.listing())
    # When the ingest runs again
    report = ingest(settings)
    # Then every landing file is one committed batch
    assert report.orphans_removed == []
    batches = Manifest(settings.manifest_path).batches()
    assert len(batches) == landing_files == report.count("loaded") + report.count("empty")
    assert len({b.batch_id for b in batches}) == len(batches)
    referenced = {f for b in batches for f in (b.bronze_file, b.quarantine_file) if f}
    data_objects = {o for o in settings.store.listing() if o.startswith(("bronze/",
                                                                          "quarantine/"))}
    assert data_objects == referenced
    assert list_orphans(settings) == []
    assert list(settings.staging.glob("landing-*")) == []  # the killed run's landing copy
    assert sum(b.landed_rows for b in batches) == report.landed_rows > 0
    # When a third run starts, then every file is a duplicate, and none is read again
    landing = settings.landing_store
    assert landing is not None
    lines: list[str] = []
    again = ingest(settings, progress=lines.append)
    assert again.count("duplicate") == landing_files
    assert again.landed_rows == 0
    assert (f"ingest: read 0 landing object(s), 0.0 MB, from {landing.uri()}; "
            f"{landing_files} already loaded and unchanged") in lines
    # When one export is written again with the same bytes, then only it is read (and
    # found a duplicate by its hash); the same key with other bytes is a new batch
    first = batches[0].landing_file
    body = landing.read_range(first, 0, batches[0].file_bytes)
    with landing.fs.open_output_stream(landing.fs_path(first)) as out:
        out.write(body)
    lines.clear()
    rewritten = ingest(settings, progress=lines.append)
    assert rewritten.count("duplicate") == landing_files
    assert any(line.startswith("ingest: read 1 landing object(s)") for line in lines), lines
    assert len(Manifest(settings.manifest_path).batches()) == landing_files


@pytest.mark.parametrize("case", [
    ("AWS_SECRET_ACCESS_KEY", "not-the-secret", "the secret key does not match "
     "(AWS_SECRET_ACCESS_KEY)"),
    ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000", "the access key id is not known "
     "(AWS_ACCESS_KEY_ID)"),
    ("LAKEHOUSE_ROOT", "s3://no-such-bucket/lake", "the bucket does not exist"),
])
def test_a_wrong_credential_or_bucket_is_one_line_naming_the_bucket(
        s3_lake: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        case: tuple[str, str, str]) -> None:
    """Given an S3 root, when a command runs with a wrong secret, key id or bucket, then it exits 2
    with one line naming the bucket and what failed, and no credential appears in it."""
    variable, value, says = case
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv(variable, value)
    bucket = "no-such-bucket" if variable == "LAKEHOUSE_ROOT" else BUCKET
    # When a command runs
    code = main(["ingest"])
    # Then one line names the bucket and the cause, exit 2, no secret shown
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [
        f"lakehouse: error: object storage s3://{bucket}: listing the bucket failed: {says}"]
    assert secret not in captured.err + captured.out
    assert value not in captured.err or variable == "LAKEHOUSE_ROOT"


def test_object_storage_settings_without_a_server(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Given object-storage roots, when settings are resolved and `dbt-env` prints the profile's
    variables, then the state folder and data locations follow the URI, unsupported schemes are
    one line, and no credential is printed."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("LAKEHOUSE_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    settings = Settings.from_env(root="s3://bucket/team/lake")
    assert settings.root == tmp_path / "xdg" / "lakehouse" / "s3" / "bucket" / "team" / "lake"
    assert settings.data_uri("bronze/app/users") == "s3://bucket/team/lake/bronze/app/users"
    assert settings.layer_data_uri("gold") == "s3://bucket/team/lake/gold/"
    assert settings.landing_store is not None
    assert settings.landing_store.uri() == "s3://bucket/team/lake/landing"
    assert "very-secret-value" not in repr(settings)
    assert "data_path 's3://bucket/team/lake/silver/'" in settings.ducklake_attach("silver")
    # the lock and the manifest are local files of the state folder (one machine)
    assert settings.lock_path.parent.parent == settings.root
    assert settings.manifest_path.parent.parent == settings.root
    for root, says in (("gs://bucket/lake", "gs:// roots are not supported"),
                       ("s3://bucket/a/../b", "must not hold empty, '.' or '..' parts")):
        with pytest.raises(ConfigError, match=says):
            Settings.from_env(root=root)
    assert main(["--root", "gs://bucket/lake", "status"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    # When `dbt-env` prints the profile's variables (no server needed: it reaches no bucket)
    from transform.dbt_runner import profile_environment
    env = profile_environment(settings)
    assert env["LAKEHOUSE_DBT_S3_ENDPOINT"] == "s3.us-east-1.amazonaws.com"
    assert env["LAKEHOUSE_DBT_ROOT"] == "s3://bucket/team/lake"


def test_simulate_uploads_the_same_files_it_writes_locally(
        s3_lake: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given an S3 root, when `lakehouse simulate` runs, then the landing zone in the bucket holds
    exactly the files, byte for byte, that the same simulation writes to a local landing zone,
    and no local copy is left behind."""
    from ingestion.simulator import simulate

    args = ["--scale", "0.01", "--start", "2025-11-01", "--end", "2025-12-31",
            "--daily-days", "2"]
    # When the simulation runs against the S3 root
    assert main(["--quiet", "simulate", *args]) == 0
    assert f"into s3://{BUCKET}/" in capsys.readouterr().out
    # Then the bucket holds the files a local run writes, byte for byte
    local = tmp_path / "landing"
    summary = simulate(local, scale=0.01, start=date(2025, 11, 1), end=date(2025, 12, 31),
                       daily_days=2)
    assert settings_landing(s3_lake) == {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*")
        if p.is_file()}
    assert summary.files == len(settings_landing(s3_lake)) > 5
    assert list(s3_lake.staging.glob("simulate-*")) == []


def settings_landing(settings: Settings) -> dict[str, bytes]:
    """Every landing object of an S3 lakehouse and its bytes."""
    store = settings.landing_store
    assert store is not None
    out = {}
    for name in store.listing():
        with store.open_input_stream(name) as handle:
            out[name] = handle.read()
    return out
