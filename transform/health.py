"""Data health: freshness, volume, schema changes, quarantine and tests, kept as history.

``run_checks(settings)`` runs after every build (successful or not) and by ``lakehouse
health``; each check gives one row per subject in ``meta.health_checks`` with a status:
``ok``, ``warn`` (worth a look) or ``fail`` (``lakehouse health`` exits 1). The checks:

- ``freshness_as_of``: each entity's latest export date against the as-of date (the latest
  export of any entity): a lag of more than ``LAKEHOUSE_HEALTH_LAG_WARN_DAYS`` (2) warns
  and more than ``LAKEHOUSE_HEALTH_LAG_FAIL_DAYS`` (7) fails. A change export delivers
  only on days something changed, so its limits stretch to its longest gap so far (and
  twice that), and an entity exported once has no cadence to judge.
- ``freshness_today``: the as-of date against today (UTC); older than
  ``LAKEHOUSE_HEALTH_MAX_AGE_DAYS`` (2) warns (the simulated default history ends on a
  fixed day, so it warns there, truthfully).
- ``volume``: the rows of each entity's latest export day against its trailing 28 export
  days; a robust z-score (0.6745 (x - median) / MAD) beyond 3.5 warns, no row where the
  trailing median is above zero fails. Needs 7 trailing days; the first (backfill) export
  is not compared.
- ``schema_change``: columns of the latest export day that changed against the entity's
  previous batch (``meta.schema_changes``): a contract column missing or retyped fails;
  anything else (a new column, an extra one coming and going) warns.
- ``quarantine_rate``: quarantined rows of the latest export day per entity; above
  ``LAKEHOUSE_HEALTH_QUARANTINE_WARN`` (1 %) warns, above ``..._FAIL`` (5 %) fails.
- ``tests``: the latest build's dbt tests and models: any error or failure fails, a
  warning warns.
"""

from __future__ import annotations

import itertools
import os
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from ingestion.contract import ENTITIES
from ingestion.manifest import Manifest
from lakecore import ledger
from lakecore.errors import ConfigError
from lakecore.settings import Settings

STATUSES = ("ok", "warn", "fail")
TRAILING_DAYS = 28
MIN_TRAILING = 7
ROBUST_Z = 3.5
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Check:
    """One check of one subject (an entity, a test, the whole lakehouse)."""

    check_name: str
    subject: str
    status: str
    observed: float | None
    expected: str
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """Every check of one run of the health checks."""

    checked_at: str
    as_of_date: str | None
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return max((c.status for c in self.checks), key=STATUSES.index, default="ok")

    def flagged(self) -> list[Check]:
        """The checks that warn or fail, failures first."""
        return sorted((c for c in self.checks if c.status != "ok"),
                      key=lambda c: (-STATUSES.index(c.status), c.check_name, c.subject))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {"checked_at": self.checked_at, "as_of_date": self.as_of_date,
                "status": self.status, "checks": [asdict(c) for c in self.checks]}

    def lines(self) -> list[str]:
        """A readable summary: the counts, then each flagged check."""
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}
        head = (f"health {self.status.upper()} at {self.checked_at} (as of {self.as_of_date}): "
                f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
        return [head] + [f"  {c.status.upper():4} {c.check_name} {c.subject}: {c.detail}"
                         for c in self.flagged()]


def _threshold(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={text!r} must not be negative")
    return value


def run_checks(settings: Settings, say: Progress | None = None, *,
               today: date | None = None) -> HealthReport:
    """Compute every check, keep it in ``meta.health_checks`` and return the report."""
    with ledger.step(settings, "health", "meta") as step:
        report = compute(settings, today=today)
        step.run.write_many(
            "insert into health_checks (run_id, checked_at, check_name, subject, status, "
            "observed, expected, detail) values (?,?,?,?,?,?,?,?)",
            [(step.run.run_id, report.checked_at, c.check_name, c.subject, c.status,
              c.observed, c.expected, c.detail) for c in report.checks])
        step.rows_written = len(report.checks)
        step.detail = {s: sum(1 for c in report.checks if c.status == s) for s in STATUSES}
    if say is not None:
        for line in report.lines():
            say(line)
    return report


def compute(settings: Settings, *, today: date | None = None) -> HealthReport:
    """Every check against the manifest and the ledger as they are now (nothing written)."""
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    if not Manifest.exists(settings):
        return HealthReport(checked_at, None, (Check(
            "freshness_as_of", "lakehouse", "fail", None, "batches",
            "nothing was ever ingested"),))
    manifest = Manifest.open(settings, read_only=True)
    try:
        batches = _rows(manifest, "batches")
        changes = _rows(manifest, "schema_changes")
    finally:
        manifest.close()
    as_of = max((b["export_date"] for b in batches), default=None)
    checks: list[Check] = []
    if as_of is None:
        checks.append(Check("freshness_as_of", "lakehouse", "fail", None, "batches",
                            "nothing was ever ingested"))
    else:
        checks += _freshness(batches, as_of, today or datetime.now(UTC).date())
        checks += _volume(batches)
        checks += _schema_changes(changes, batches)
        checks += _quarantine(batches)
    checks += _tests(settings)
    return HealthReport(checked_at, as_of, tuple(checks))


def _rows(manifest: Manifest, table: str) -> list[dict[str, Any]]:
    columns, rows = manifest.table_dump(table)
    names = [name for name, _ in columns]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _entities(batches: list[dict[str, Any]]) -> list[str]:
    seen = {f"{b['source']}/{b['entity']}" for b in batches}
    return [f"{e.source}/{e.name}" for e in ENTITIES.values() if f"{e.source}/{e.name}" in seen]


def _freshness(batches: list[dict[str, Any]], as_of: str, today: date) -> list[Check]:
    warn_days = _threshold("LAKEHOUSE_HEALTH_LAG_WARN_DAYS", 2)
    fail_days = _threshold("LAKEHOUSE_HEALTH_LAG_FAIL_DAYS", 7)
    max_age = _threshold("LAKEHOUSE_HEALTH_MAX_AGE_DAYS", 2)
    exports: dict[str, set[date]] = defaultdict(set)
    for b in batches:
        exports[f"{b['source']}/{b['entity']}"].add(date.fromisoformat(b["export_date"]))
    as_of_day = date.fromisoformat(as_of)
    checks = []
    for entity in _entities(batches):
        days = sorted(exports[entity])
        lag = (as_of_day - days[-1]).days
        checks.append(_lag_check(entity, days, lag, as_of, warn_days=warn_days,
                                 fail_days=fail_days))
    age = (today - as_of_day).days
    checks.append(Check("freshness_today", "lakehouse", "warn" if age > max_age else "ok", age,
                        f"<= {max_age:g} days old",
                        f"as-of date {as_of} is {age} day(s) before today ({today})"))
    return checks


def _lag_check(entity: str, days: list[date], lag: int, as_of: str, *, warn_days: float,
               fail_days: float) -> Check:
    """How far an entity's latest export lags the as-of date, against its own cadence.

    A change export only delivers on days something changed (plans may change once a
    quarter), so its limits stretch to its longest gap so far (warn) and twice that
    (fail); with one export only its cadence is unknown and a lag is no finding. An
    append-only entity (events, fx rates) is expected every day.
    """
    change_export = next((e.change_export for e in ENTITIES.values()
                          if f"{e.source}/{e.name}" == entity), True)
    gap = max(((b - a).days for a, b in itertools.pairwise(days)), default=0)
    warn_limit, fail_limit = warn_days, fail_days
    if change_export:
        warn_limit, fail_limit = max(warn_days, gap), max(fail_days, 2 * gap)
    detail = (f"latest export {days[-1]}, {lag} day(s) behind the as-of date {as_of}"
              + (f" (longest gap so far {gap} day(s))" if change_export and gap else ""))
    if change_export and len(days) == 1:
        return Check("freshness_as_of", entity, "ok", lag, "a cadence to compare with",
                     detail + "; one export so far, so its cadence is unknown")
    status = "fail" if lag > fail_limit else "warn" if lag > warn_limit else "ok"
    return Check("freshness_as_of", entity, status, lag, f"<= {warn_limit:g} days behind",
                 detail)


def _daily(batches: list[dict[str, Any]], column: str) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in batches:
        per[f"{b['source']}/{b['entity']}"][b["export_date"]] += int(b[column])
    return per


def _score(trailing: list[int], observed: int) -> tuple[float, float, float, str]:
    """Median, MAD, robust z-score and status of one day's rows against its trailing days."""
    median = statistics.median(trailing)
    mad = statistics.median(abs(x - median) for x in trailing)
    z = 0.6745 * (observed - median) / mad if mad else (
        0.0 if observed == median else float("inf"))
    if observed == 0 and median > 0:
        return median, mad, z, "fail"
    return median, mad, z, "warn" if abs(z) > ROBUST_Z else "ok"


def volume_scores(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every export day of every entity scored as the ``volume`` check scores the latest.

    One dict per entity and day: ``entity``, ``export_date``, ``rows``, ``median`` and
    ``robust_z`` (None where fewer than ``MIN_TRAILING`` days come before it) and ``status``.
    """
    rows = _daily(batches, "input_rows")
    scored = []
    for entity in sorted(rows):
        days = sorted(rows[entity])
        for i, day in enumerate(days):
            observed = rows[entity][day]
            trailing = [rows[entity][d] for d in days[1:i][-TRAILING_DAYS:]]
            row: dict[str, Any] = {"entity": entity, "export_date": day, "rows": observed,
                                   "median": None, "robust_z": None, "status": "ok"}
            if i > 0 and len(trailing) >= MIN_TRAILING:
                median, _mad, z, status = _score(trailing, observed)
                row.update(median=float(median), status=status,
                           robust_z=z if abs(z) != float("inf") else None)
            scored.append(row)
    return scored


def _volume(batches: list[dict[str, Any]]) -> list[Check]:
    rows = _daily(batches, "input_rows")
    checks = []
    for entity in _entities(batches):
        days = sorted(rows[entity])
        latest = days[-1]
        trailing = [rows[entity][d] for d in days[1:-1][-TRAILING_DAYS:]]  # no backfill day
        observed = rows[entity][latest]
        if len(trailing) < MIN_TRAILING:
            checks.append(Check("volume", entity, "ok", observed, f">= {MIN_TRAILING} days",
                                f"{observed:,} rows on {latest}; only {len(trailing)} "
                                "trailing export day(s) to compare with"))
            continue
        median, mad, z, status = _score(trailing, observed)
        checks.append(Check("volume", entity, status, observed,
                            f"median {median:,.0f} (MAD {mad:,.0f}), |z| <= {ROBUST_Z}",
                            f"{observed:,} rows on {latest} against a median of {median:,.0f} "
                            f"over {len(trailing)} export day(s) (robust z {z:+.1f})"))
    return checks


def _schema_changes(changes: list[dict[str, Any]], batches: list[dict[str, Any]]
                    ) -> list[Check]:
    latest: dict[str, str] = {}
    for b in batches:
        key = f"{b['source']}/{b['entity']}"
        latest[key] = max(latest.get(key, ""), b["export_date"])
    checks = []
    for entity in _entities(batches):
        recent = [c for c in changes if f"{c['source']}/{c['entity']}" == entity
                  and c["export_date"] == latest[entity]]
        if not recent:
            checks.append(Check("schema_change", entity, "ok", 0, "no change",
                                f"no column changed on {latest[entity]}"))
            continue
        contract = contract_columns(entity)
        status = ("fail" if any(c["change"] in ("missing", "retyped")
                                and c["column_name"] in contract for c in recent) else "warn")
        described = "; ".join(sorted({f"{c['change']} {c['column_name']}" for c in recent}))
        checks.append(Check("schema_change", entity, status, len(recent), "no change",
                            f"{latest[entity]}: {described}"))
    return checks


def contract_columns(entity: str) -> set[str]:
    """The columns the landing contract defines for ``<source>/<entity>``."""
    source, name = entity.split("/", 1)
    return {c.name for e in ENTITIES.values() if (e.source, e.name) == (source, name)
            for c in e.columns}


def _quarantine(batches: list[dict[str, Any]]) -> list[Check]:
    warn = _threshold("LAKEHOUSE_HEALTH_QUARANTINE_WARN", 0.01)
    fail = _threshold("LAKEHOUSE_HEALTH_QUARANTINE_FAIL", 0.05)
    rows = _daily(batches, "input_rows")
    bad = _daily(batches, "quarantined_rows")
    checks = []
    for entity in _entities(batches):
        latest = max(rows[entity])
        total, quarantined = rows[entity][latest], bad[entity][latest]
        rate = quarantined / total if total else 0.0
        status = "fail" if rate > fail else "warn" if rate > warn else "ok"
        checks.append(Check("quarantine_rate", entity, status, round(rate, 6),
                            f"<= {warn:.1%}",
                            f"{quarantined:,} of {total:,} row(s) quarantined on {latest} "
                            f"({rate:.2%})"))
    return checks


def _tests(settings: Settings) -> list[Check]:
    results = ledger.rows(settings, "select r.* from dbt_results r join (select run_id from "
                          "runs where run_id in (select run_id from dbt_results) order by "
                          "started_at desc limit 1) l using (run_id)")
    if not results:
        return [Check("tests", "dbt", "warn", None, "a tested build",
                      "no build has recorded dbt results yet")]
    failed = [r for r in results if r["status"] in ("error", "fail")]
    warned = [r for r in results if r["status"] == "warn"]
    tests = [r for r in results if r["resource_type"] in ("test", "unit_test")]
    checks = [Check("tests", f"{r['resource_type']} {r['name']}",
                    "fail" if r in failed else "warn", r["failures"], "pass",
                    f"{r['status']}: {r['message'][:200]}") for r in failed + warned]
    if not tests:
        checks.append(Check("tests", "dbt", "warn", 0, "a tested build",
                            "the latest build ran no data or unit test (--models-only)"))
    checks.append(Check("tests", "dbt", "fail" if failed else "ok", len(failed), "0 failures",
                        f"{len(tests)} test(s) and {len(results) - len(tests)} model(s) in "
                        f"the latest build, {len(failed)} failed, {len(warned)} warned"))
    return checks


def latest(settings: Settings) -> HealthReport | None:
    """The health checks the last run recorded, or None when none has run yet."""
    rows = ledger.rows(settings, "select * from health_checks where checked_at = (select "
                       "max(checked_at) from health_checks) order by rowid")
    if not rows:
        return None
    checks = tuple(Check(r["check_name"], r["subject"], r["status"], r["observed"],
                         r["expected"], r["detail"]) for r in rows)
    as_of = (Manifest.open(settings, read_only=True).as_of_date()
             if Manifest.exists(settings) else None)
    return HealthReport(rows[0]["checked_at"], as_of, checks)
