"""The pipeline's own history, for the health notebook: runs, steps, rows, health, tests.

Everything is read from the read-only surface (``meta.runs``, ``meta.run_steps``,
``meta.dbt_results``, ``meta.health_checks``, ``meta.batches``), so the notebook shows
exactly what ``lakehouse sql`` would; the volume anomalies are scored by the same rule as
the health checks (``transform.health.volume_scores``).
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pyarrow as pa

from analytics.query import run_query
from lakecore.settings import Settings
from transform import health


@dataclass(frozen=True)
class PipelineHistory:
    """The tables the health notebook charts, newest first where it matters."""

    runs: pa.Table
    steps: pa.Table
    rows_per_layer: pa.Table
    volume: pa.Table
    tests: pa.Table
    quarantine: pa.Table
    latest_health: pa.Table

    @property
    def empty(self) -> bool:
        """True when no run was recorded yet."""
        return self.runs.num_rows == 0


def pipeline_history(settings: Settings) -> PipelineHistory:
    """Read the whole history of the lakehouse's runs and checks."""
    runs = run_query(settings, "select started_at, command, status, seconds, peak_rss_mb, "
                     "error, run_id from meta.runs order by started_at desc")
    steps = run_query(settings, "select r.started_at as run_started_at, r.command, s.step, "
                      "s.layer, s.status, s.seconds, s.rows_read, s.rows_written, "
                      "s.quarantined_rows, s.peak_rss_mb from meta.run_steps s join meta.runs "
                      "r using (run_id) order by r.started_at, s.step_id")
    rows_per_layer = run_query(settings, """
        select r.started_at as run_started_at, 'bronze' as layer,
               cast(sum(s.rows_written) as bigint) as rows_written
        from meta.run_steps s join meta.runs r using (run_id)
        where s.step = 'ingest' and s.status = 'success' group by all
        union all
        select r.started_at, d.layer, cast(sum(d.rows_affected) as bigint)
        from meta.dbt_results d join meta.runs r using (run_id)
        where d.resource_type = 'model' and d.rows_affected is not null group by all
        order by 1, 2""")
    tests = run_query(settings, """
        select r.started_at as run_started_at, d.status, cast(count(*) as bigint) as tests
        from meta.dbt_results d join meta.runs r using (run_id)
        where d.resource_type in ('test', 'unit_test') group by all order by 1, 2""")
    quarantine = run_query(settings, """
        select source || '/' || entity as entity, cast(export_date as date) as export_date,
               cast(sum(input_rows) as bigint) as input_rows,
               cast(sum(quarantined_rows) as bigint) as quarantined_rows,
               cast(sum(quarantined_rows) as double) / greatest(sum(input_rows), 1)
                   as quarantine_rate
        from meta.batches group by all order by 1, 2""")
    latest = run_query(settings, """
        select status, check_name, subject, detail from meta.health_checks
        where checked_at = (select max(checked_at) from meta.health_checks)
        order by case status when 'fail' then 0 when 'warn' then 1 else 2 end,
                 check_name, subject""")
    batches = run_query(settings, "select source, entity, export_date, input_rows "
                        "from meta.batches").to_pylist()
    volume = pa.Table.from_pylist(health.volume_scores(batches), schema=VOLUME_SCHEMA)
    return PipelineHistory(runs, steps, rows_per_layer, volume, tests, quarantine, latest)


VOLUME_SCHEMA = pa.schema([("entity", pa.string()), ("export_date", pa.string()),
                           ("rows", pa.int64()), ("median", pa.float64()),
                           ("robust_z", pa.float64()), ("status", pa.string())])


def step_durations_chart(steps: pa.Table) -> alt.Chart:
    """Seconds per step of every run, stacked, one bar per run."""
    return alt.Chart(steps.to_pandas()).mark_bar().encode(
        x=alt.X("run_started_at:T", title="run"),
        y=alt.Y("seconds:Q", stack="zero", title="seconds"),
        color=alt.Color("step:N"),
        tooltip=["command", "step", "layer", "status", "seconds", "peak_rss_mb"],
    ).properties(height=220, title="Step durations per run")


def rows_per_layer_chart(rows: pa.Table) -> alt.Chart:
    """Rows written per layer by every run."""
    return alt.Chart(rows.to_pandas()).mark_line(point=True).encode(
        x=alt.X("run_started_at:T", title="run"),
        y=alt.Y("rows_written:Q", title="rows written"),
        color=alt.Color("layer:N"),
        tooltip=["run_started_at:T", "layer", "rows_written"],
    ).properties(height=220, title="Rows written per layer")


def volume_chart(volume: pa.Table) -> alt.LayerChart | alt.FacetChart:
    """Rows per export day and entity, anomalies (warn, fail) marked in red."""
    frame = volume.to_pandas()
    base = alt.Chart(frame).encode(x=alt.X("export_date:T", title="export day"),
                                   y=alt.Y("rows:Q", title="rows"))
    lines = base.mark_line().encode(color=alt.Color("entity:N"))
    flagged = base.transform_filter(alt.datum.status != "ok").mark_point(
        color="#d62728", size=80, filled=True).encode(
        tooltip=["entity", "export_date", "rows", "median", "robust_z", "status"])
    return alt.layer(lines, flagged).properties(height=240,
                                                title="Volume per entity (red: anomaly)")


def quarantine_chart(quarantine: pa.Table) -> alt.Chart:
    """The share of quarantined rows per export day and entity."""
    return alt.Chart(quarantine.to_pandas()).mark_line(point=True).encode(
        x=alt.X("export_date:T", title="export day"),
        y=alt.Y("quarantine_rate:Q", title="quarantined", axis=alt.Axis(format="%")),
        color=alt.Color("entity:N"),
        tooltip=["entity", "export_date:T", "input_rows", "quarantined_rows"],
    ).properties(height=220, title="Quarantine rate")


def tests_chart(tests: pa.Table) -> alt.Chart:
    """Tests per status of every build."""
    return alt.Chart(tests.to_pandas()).mark_bar().encode(
        x=alt.X("run_started_at:T", title="build"),
        y=alt.Y("tests:Q", stack="zero"),
        color=alt.Color("status:N", scale=alt.Scale(
            domain=["pass", "warn", "fail", "error"],
            range=["#2ca02c", "#ff7f0e", "#d62728", "#8c564b"])),
        tooltip=["run_started_at:T", "status", "tests"],
    ).properties(height=200, title="Test results per build")
