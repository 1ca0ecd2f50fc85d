"""Back-test the MRR forecast and time it: on the simulated business and on mrr-playbook.

Three ways to point it at data (any combination, one report each):

* ``--scale S --years N``: simulate N years of the default business at scale S into a
  fresh lakehouse under a temporary directory, ingest and build it (models only);
* ``--playbook PATH``: convert dbt-labs' mrr-playbook data set
  (``data/subscription_periods.csv`` of https://github.com/dbt-labs/mrr-playbook: one row
  per subscription period with ``start_date``, exclusive ``end_date`` and
  ``monthly_amount``) to the landing contract, then ingest and build it;
* ``--root DIR``: an already built lakehouse (for example a scale 10 one), for timings.

For each it prints the back-test summary (MAPE at 3, 6 and 12 months against the flat
and linear baselines, and the band's coverage) and the time of a fit (one Gold query and
the models) and of one ``project`` (what a lever slider costs).

Usage: ``python benchmarks/bench_forecast.py --scale 1 --years 4 --playbook
subscription_periods.csv [--json out.json]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from analytics import forecast
from lakecore.settings import Settings
from saaslake.pipeline import run

#: mrr-playbook's periods all end by 2020-02-01: MRR falls from $1,840 (2019-11) to $175
#: (2020-01) because the extract closed every running period, not because customers left.
#: The back-test uses the data as it stood at the end of November 2019.
PLAYBOOK_EXPORT = "2019-11-30"
PLAYBOOK_TIERS = ((25, "starter"), (50, "growth"), (100, "scale"))


def _tier(amount: int) -> str:
    return next((tier for limit, tier in PLAYBOOK_TIERS if amount <= limit), "enterprise")


def _stamp(day: str) -> str:
    return f"{day}T00:00:00Z"


def playbook_to_landing(periods_csv: Path, landing: Path, export: str | None = None) -> date:
    """Write mrr-playbook's subscription periods as one export of the landing contract.

    Each period becomes a subscription: an ``active`` version at ``start_date`` and, when
    it has ended by the export date, a ``canceled`` version at ``end_date`` (exclusive,
    as in the playbook, so the last month with MRR is the month before ``end_date``).
    Each distinct monthly amount is a monthly USD plan. ``export`` (default: the latest
    date in the file) is the export date: periods starting after it are left out, and
    periods ending after it are still running. Returns the export date.
    """
    with periods_csv.open(newline="") as fh:
        periods = list(csv.DictReader(fh))
    export = export or max(max(p["start_date"], p["end_date"] or p["start_date"])
                           for p in periods)
    periods = [p for p in periods if p["start_date"] <= export]
    first = min(p["start_date"] for p in periods)
    amounts = sorted({int(p["monthly_amount"]) for p in periods})
    plans = landing / "billing" / "plans" / export / "part-0001.csv"
    plans.parent.mkdir(parents=True, exist_ok=True)
    with plans.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["plan_id", "plan_name", "tier", "billing_interval", "interval_count",
                         "unit_amount_minor", "currency", "is_active", "updated_at"])
        for amount in amounts:
            writer.writerow([f"playbook_{amount}", f"Playbook ${amount}/month", _tier(amount),
                             "month", 1, amount * 100, "usd", "true", _stamp(first)])
    lines = []
    for p in periods:
        start, end = p["start_date"], p["end_date"] or None
        version = {
            "subscription_id": f"sub_{p['subscription_id']}",
            "account_id": f"cust_{p['customer_id']}", "plan_id": f"playbook_{p['monthly_amount']}",
            "quantity": 1, "status": "active", "trial_start": None, "trial_end": None,
            "started_at": _stamp(start), "current_period_start": _stamp(start),
            "current_period_end": _stamp(start), "cancel_at_period_end": False,
            "canceled_at": None, "ended_at": None, "discount_percent": 0,
            "created_at": _stamp(start), "updated_at": _stamp(start),
        }
        lines.append(version)
        if end is not None and end <= export:
            lines.append({**version, "status": "canceled", "canceled_at": _stamp(end),
                          "ended_at": _stamp(end), "updated_at": _stamp(end)})
    subscriptions = landing / "billing" / "subscriptions" / export / "part-0001.jsonl"
    subscriptions.parent.mkdir(parents=True, exist_ok=True)
    subscriptions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return date.fromisoformat(export)


def measure(settings: Settings, label: str) -> dict[str, Any]:
    """Back-test and time the forecast on one built lakehouse; print and return figures."""
    started = time.perf_counter()
    model = forecast.fit_forecast(settings)
    fit_cold = time.perf_counter() - started
    started = time.perf_counter()
    model = forecast.fit_forecast(settings)
    fit_warm = time.perf_counter() - started
    timings = []
    for change in (0.0, -1.0, 1.0, -0.5, 0.5):
        started = time.perf_counter()
        model.project(forecast.Levers(churn_change=change, new_mrr_growth=0.01))
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    record = forecast.backtest(settings)
    backtest_seconds = time.perf_counter() - started
    figures = record.figures()
    print(f"\n{label}: cut-off {model.cube.months[model.cutoff]:%Y-%m}, "
          f"{model.cube.last_complete + 1} complete months, new business by {model.method}")
    print(f"  fit {fit_cold:.2f} s cold / {fit_warm:.3f} s warm; one lever change "
          f"{1000 * min(timings):.1f}-{1000 * max(timings):.1f} ms; back-test "
          f"{backtest_seconds:.2f} s")
    print("  horizon  forecasts  MAPE model  MAPE flat  MAPE linear  vs flat  vs linear  "
          "in band")
    for horizon, row in figures.items():
        print(f"  {horizon:>7}  {row['forecasts']:>9}  {row['mape_forecast']:>10.1%}  "
              f"{row['mape_flat']:>9.1%}  {row['mape_linear']:>11.1%}  "
              f"{row['ratio_to_flat']:>7.2f}  {row['ratio_to_linear']:>9.2f}  "
              f"{row['band_coverage']:>7.0%}")
    return {"label": label, "fit_cold_s": fit_cold, "fit_warm_s": fit_warm,
            "project_ms": [1000 * t for t in timings], "backtest_s": backtest_seconds,
            "backtest": figures}


def main() -> None:
    """Parse the arguments, build what is asked, and report each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, help="simulate at this scale")
    parser.add_argument("--years", type=int, default=4, help="years of simulated history")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--playbook", type=Path, help="mrr-playbook's subscription_periods.csv")
    parser.add_argument("--playbook-export", default=PLAYBOOK_EXPORT,
                        help="export date of the converted playbook (default: %(default)s, "
                             "before the data set's end-of-extract cancellations)")
    parser.add_argument("--root", type=Path, help="an already built lakehouse")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as scratch:
        if args.scale:
            from ingestion.simulator import simulate
            from ingestion.simulator.core import DEFAULT_END

            settings = Settings.from_env(root=Path(scratch) / "simulated")
            simulate(settings.landing, scale=args.scale, seed=args.seed, end=DEFAULT_END,
                     start=DEFAULT_END - timedelta(days=365 * args.years))
            run(settings, tests=False)
            results.append(measure(settings, f"simulated, scale {args.scale:g}, "
                                             f"{args.years} years, seed {args.seed}"))
        if args.playbook:
            settings = Settings.from_env(root=Path(scratch) / "playbook")
            playbook_to_landing(args.playbook, settings.landing, args.playbook_export)
            run(settings, tests=False)
            results.append(measure(settings, "mrr-playbook"))
        if args.root:
            results.append(measure(Settings.from_env(root=args.root), f"lakehouse {args.root}"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
