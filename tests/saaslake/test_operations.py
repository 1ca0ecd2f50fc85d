"""Operations: the run ledger, structured logs, health checks and OpenLineage events.

The session's built lakehouse (``lakehouse`` fixture: simulate, then one pipeline run) is
read for what a real run records; small ingest-only landing zones exercise the health
checks and the HTTP event receiver without another dbt build.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

from analytics.query import run_query
from ingestion.loader import ingest
from ingestion.manifest import Manifest
from lakecore import ledger, logs
from lakecore.settings import Settings
from saaslake.cli import main
from tests.helpers.lakehouse import event, write_jsonl
from transform import health


def sql(settings: Settings, query: str) -> list[dict[str, Any]]:
    """Rows of a query on the read-only surface, as dicts."""
    return run_query(settings, query).to_pylist()


def test_a_pipeline_run_is_in_the_ledger_with_its_steps_and_rows(lakehouse: Settings) -> None:
    """Given the built lakehouse, then meta.runs holds its successful `run`, meta.run_steps its
    five steps in order, and the ingest step's rows equal the manifest's."""
    runs = sql(lakehouse, "select * from meta.runs where command = 'run'")
    assert [r["status"] for r in runs] == ["success"]
    steps = sql(lakehouse, f"select * from meta.run_steps where run_id = '{runs[0]['run_id']}' "
                "order by step_id")
    assert [(s["step"], s["layer"], s["status"]) for s in steps] == [
        ("ingest", "bronze", "success"), ("verify_bronze", "bronze", "success"),
        ("dbt_build", "silver+gold", "success"), ("publish", "gold", "success"),
        ("health", "meta", "success")]
    manifest = Manifest(lakehouse.manifest_path, read_only=True)
    totals = {k: sum(int(str(r[k])) for r in manifest.entity_summary())
              for k in ("input_rows", "landed_rows", "quarantined_rows")}
    ingest_step = steps[0]
    assert (ingest_step["rows_read"], ingest_step["rows_written"],
            ingest_step["quarantined_rows"]) == (totals["input_rows"], totals["landed_rows"],
                                                 totals["quarantined_rows"])
    assert totals["quarantined_rows"] > 0
    assert ingest_step["files_read"] == ingest_step["files_written"] == len(manifest.batches())
    assert all(s["peak_rss_mb"] > 0 and s["seconds"] >= 0 for s in steps)
    assert runs[0]["seconds"] >= sum(s["seconds"] for s in steps)


def test_dbt_results_are_kept_with_the_rows_of_every_model(lakehouse: Settings) -> None:
    """Given the built lakehouse, then meta.dbt_results has every model with its layer and
    row count (equal to the published table's) and every test with its status."""
    results = sql(lakehouse, "select * from meta.dbt_results")
    models = {r["name"]: r for r in results if r["resource_type"] == "model"}
    assert models["saas_kpis_monthly"]["layer"] == "gold"
    assert models["stg_billing__subscriptions"]["layer"] == "silver"
    for name, layer in (("saas_kpis_monthly", "gold"), ("fct_account_mrr_monthly", "gold"),
                        ("stg_billing__subscriptions", "silver")):
        count = sql(lakehouse, f"select count(*) as n from {layer}.{name}")[0]["n"]
        assert models[name]["rows_affected"] == count, name
    assert all(r["status"] == "success" for r in models.values())
    # The session build ran models only (tests=False): no test rows, and health says so.
    assert not [r for r in results if r["resource_type"] == "test"]
    flagged = {(c.check_name, c.subject) for c in health.compute(lakehouse).flagged()}
    assert ("tests", "dbt") in flagged


def test_every_log_line_is_json_with_run_step_and_layer(lakehouse: Settings) -> None:
    """Given the built lakehouse, then its log folder holds JSON lines that each name the run,
    the step and the layer, and the pipeline run's lines name the run of meta.runs."""
    lines = [json.loads(line) for path in sorted(logs.log_dir(lakehouse.meta).glob("*.jsonl"))
             for line in path.read_text().splitlines()]
    assert lines
    assert all({"run_id", "step", "layer", "level", "timestamp", "event"} <= set(line)
               for line in lines)
    run_id = sql(lakehouse, "select run_id from meta.runs where command = 'run'")[0]["run_id"]
    steps = {(line["step"], line["layer"]) for line in lines if line["run_id"] == run_id}
    assert {("ingest", "bronze"), ("dbt_build", "silver+gold"), ("health", "meta")} <= steps
    assert any(line["event"] == "progress" and line["step"] == "dbt_build" for line in lines)


def test_no_secret_is_logged(settings: Settings, write_landing: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a dummy secret in the environment, when a command runs at debug level and a line
    carries the secret, then neither the logs, the ledger nor the lineage events hold it."""
    secret = "dummy-Secret-4f9a2c"  # noqa: S105 - the dummy secret under test
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("LAKEHOUSE_API_TOKEN", secret + "-2")
    write_landing("app/events/2025-03-01/part-0001.jsonl",
                  json.dumps(event("e1", "acc_1", "2025-03-01T10:00:00Z")) + "\n")
    assert main(["--root", str(settings.root), "--log-level", "debug", "-q", "ingest"]) == 0
    with ledger.run(settings, "probe"):
        logs.get_logger("probe").warning("probe", note=f"key={secret}", password="plain")  # noqa: S106
    written = b"".join(p.read_bytes() for p in settings.meta.rglob("*") if p.is_file())
    assert secret.encode() not in written
    log_text = "".join(p.read_text() for p in logs.log_dir(settings.meta).glob("*.jsonl"))
    assert "key=***" in log_text
    assert '"password": "***"' in log_text


def _events(count: int, day: date) -> list[dict[str, Any]]:
    return [event(f"e{day:%m%d}{i}", "acc_1", f"{day}T10:00:00Z") for i in range(count)]


def test_health_flags_volume_anomalies_and_fails_on_an_empty_day(settings: Settings) -> None:
    """Given ten export days of 10 events, then 40, then none: the 40-row day warns (robust
    z-score), the empty day fails, and `lakehouse health` exits 1 naming it."""
    start = date(2025, 3, 1)
    for i in range(11):
        write_jsonl(settings.landing / "app", "events", start + timedelta(days=i),
                    _events(10 if i < 10 else 40, start + timedelta(days=i)))
    ingest(settings)
    report = health.run_checks(settings, today=start + timedelta(days=10))
    volume = next(c for c in report.checks if c.check_name == "volume")
    assert (volume.status, volume.observed) == ("warn", 40)
    assert "median of 10" in volume.detail
    fresh = next(c for c in report.checks if c.check_name == "freshness_today")
    assert (fresh.status, fresh.observed) == ("ok", 0)
    day = start + timedelta(days=11)
    empty = settings.landing / "app" / "events" / day.isoformat() / "part-0001.jsonl"
    empty.parent.mkdir(parents=True)
    empty.write_text("")
    ingest(settings)
    assert main(["--root", str(settings.root), "health", "--format", "json"]) == 1
    checks = health.latest(settings)
    assert checks is not None
    failed = [(c.check_name, c.subject, c.observed) for c in checks.checks if c.status == "fail"]
    assert ("volume", "app/events", 0) in failed
    kept = sql(settings, "select count(distinct run_id) as n from meta.health_checks")
    assert kept[0]["n"] == 2


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    """An OpenLineage HTTP receiver on 127.0.0.1; yields its URL."""
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _validate(raw: dict[str, Any]) -> RunEvent:
    """Rebuild an event with the client's classes (their validators check ids and types)."""
    return RunEvent(eventType=RunState[raw["eventType"]], eventTime=raw["eventTime"],
                    run=Run(runId=raw["run"]["runId"]),
                    job=Job(namespace=raw["job"]["namespace"], name=raw["job"]["name"]),
                    inputs=[InputDataset(namespace=d["namespace"], name=d["name"])
                            for d in raw["inputs"]],
                    outputs=[OutputDataset(namespace=d["namespace"], name=d["name"])
                             for d in raw["outputs"]],
                    producer=raw["producer"])


def test_openlineage_events_reach_an_http_receiver(settings: Settings, receiver: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Given OPENLINEAGE_URL pointing at a receiver on loopback, when `lakehouse ingest` loads
    one file, then START and COMPLETE arrive for the run and its step, valid, the step's
    naming the landing file as input and the Bronze entity (with its rows) as output."""
    monkeypatch.setenv("OPENLINEAGE_URL", receiver)
    write_jsonl(settings.landing / "app", "events", date(2025, 3, 1),
                _events(3, date(2025, 3, 1)))
    assert main(["--root", str(settings.root), "-q", "ingest"]) == 0
    events = [_validate(raw) for raw in _Receiver.received]
    kinds = [(e.job.name, e.eventType.value if e.eventType else None) for e in events]
    assert kinds == [("lakehouse.ingest", "START"), ("lakehouse.ingest.ingest", "START"),
                     ("lakehouse.ingest.ingest", "COMPLETE"), ("lakehouse.ingest", "COMPLETE")]
    run_id = sql(settings, "select run_id from meta.runs")[0]["run_id"]
    assert events[0].run.runId == run_id
    complete = _Receiver.received[2]
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == run_id
    assert [d["name"] for d in complete["inputs"]] == [
        "landing/app/events/2025-03-01/part-0001.jsonl"]
    output = complete["outputs"][0]
    assert output["name"] == "bronze/app/events"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert not list((settings.meta / "openlineage").glob("*"))  # HTTP only, no files


def test_the_build_emits_gold_column_lineage_to_files(lakehouse: Settings) -> None:
    """Given the built lakehouse (no OPENLINEAGE_URL), then its event files hold the build
    step's COMPLETE event whose Gold outputs carry the column-lineage facet."""
    raw = [json.loads(line) for path in (lakehouse.meta / "openlineage").glob("*.jsonl")
           for line in path.read_text().splitlines()]
    builds = [e for e in raw if e["job"]["name"] == "lakehouse.run.dbt_build"
              and e["eventType"] == "COMPLETE"]
    assert len(builds) == 1
    outputs = {d["name"]: d for d in builds[0]["outputs"]}
    assert {"gold.saas_kpis_monthly", "silver.stg_billing__subscriptions"} <= set(outputs)
    lineage = outputs["gold.mrr_movements_monthly"]["facets"]["columnLineage"]["fields"]
    sources = {(f["name"], f["field"]) for f in lineage["closing_mrr_usd"]["inputFields"]}
    assert sources == {("gold.fct_account_mrr_monthly", "mrr_usd")}
    assert "columnLineage" not in outputs["silver.stg_billing__subscriptions"]["facets"]
    assert all(_validate(e) for e in raw)


def test_a_failed_step_is_recorded_and_a_killed_run_is_marked_interrupted(
        settings: Settings) -> None:
    """Given a run whose step raises, then the run and step are `failed` with the error; a
    `running` row of a process that is gone becomes `interrupted` on the next run."""
    with pytest.raises(RuntimeError), ledger.run(settings, "probe"), \
            ledger.step(settings, "boom", "bronze"):
        raise RuntimeError("disk on fire\nsecond line")
    row = ledger.rows(settings, "select r.status, r.error, s.status as step_status from runs r "
                      "join run_steps s using (run_id)")[0]
    assert row == {"status": "failed", "error": "disk on fire", "step_status": "failed"}
    con = ledger.connect(settings)
    assert con is not None
    con.execute("insert into runs (run_id, command, started_at, status, pid, host) values "
                "('dead', 'run', '2025-01-01', 'running', 999999999, ?)",
                [socket.gethostname()])
    con.close()
    with ledger.run(settings, "next"):
        pass
    status = ledger.rows(settings, "select status from runs where run_id = 'dead'")
    assert status == [{"status": "interrupted"}]


def test_status_shows_the_last_run_and_health(lakehouse: Settings,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Given the built lakehouse, `lakehouse status` names the last run, its steps and the
    latest health with its flags."""
    assert main(["--root", str(lakehouse.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "last run: " in out
    assert "  dbt_build (silver+gold): success" in out or "health (meta): success" in out
    assert "health " in out
    assert "freshness_today lakehouse" in out


def test_bad_log_level_is_one_line(settings: Settings, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad LAKEHOUSE_LOG_LEVEL gives one error line and exit 2."""
    monkeypatch.setenv("LAKEHOUSE_LOG_LEVEL", "loud")
    assert main(["--root", str(settings.root), "status"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "log level 'loud'" in err[0]


def test_run_ids_link_batches_to_runs(lakehouse: Settings) -> None:
    """Every batch the pipeline run committed names that run in meta.batches."""
    run_ids = {r["run_id"] for r in sql(lakehouse, "select run_id from meta.runs")}
    batch_runs = {r["run_id"] for r in sql(lakehouse, "select distinct run_id from meta.batches")}
    assert batch_runs <= run_ids


def test_volume_scores_every_day_by_the_checks_rule() -> None:
    """Given an entity's daily rows (a backfill day, then 10, 12, 11, 13, 9, 11, 12, 10, 30),
    then days with fewer than 7 trailing days are not scored, the 10 scores z = -0.6745 (ok,
    median 11, MAD 1) and the 30 scores z = 0.6745 x 19 = 12.8155 (warn)."""
    rows = [100, 10, 12, 11, 13, 9, 11, 12, 10, 30]
    batches = [{"source": "app", "entity": "events", "export_date": f"2025-03-{d:02d}",
                "input_rows": n} for d, n in enumerate(rows, start=1)]
    scores = health.volume_scores(batches)
    assert [s["robust_z"] is None for s in scores] == [True] * 8 + [False, False]
    assert scores[8]["median"] == 11
    assert scores[8]["robust_z"] == pytest.approx(-0.6745)
    assert scores[8]["status"] == "ok"
    assert scores[9]["robust_z"] == pytest.approx(12.8155)
    assert (scores[9]["status"], scores[9]["rows"]) == ("warn", 30)
    latest = next(c for c in health._volume(batches))
    assert (latest.status, latest.observed) == ("warn", 30)
