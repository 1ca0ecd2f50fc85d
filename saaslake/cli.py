"""The ``lakehouse`` command: a thin face over the library.

Every subcommand parses its options, calls one library function and prints what it
returned. A ``LakehouseError`` becomes one line on stderr and a non-zero exit; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import NoReturn

from lakecore import ledger, logs
from lakecore.errors import LakehouseError, UserInputError
from lakecore.settings import Settings, SimulationDefaults


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 0 and below 1")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UserInputError(f"{message} (see `{self.prog} --help`)")


# One flat block of statements per subcommand reads better than a helper per subcommand.
#: The engines ``build`` and ``sql`` run on (ADR 0022: Spark is the optional extra).
ENGINES = ("duckdb", "spark")


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915
    """The parser of ``lakehouse`` and its subcommands; usage errors raise UserInputError."""
    parser = _Parser(prog="lakehouse", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--root", help="data root (env LAKEHOUSE_ROOT, default ./lakehouse)")
    parser.add_argument("--landing", help="landing zone (env LAKEHOUSE_LANDING, "
                        "default $LAKEHOUSE_ROOT/landing)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="level of the JSON logs under $LAKEHOUSE_ROOT/_meta/logs and of "
                        "the console log lines (env LAKEHOUSE_LOG_LEVEL; default: info in the "
                        "file, warnings only on the console)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser("simulate", help="write simulated source exports into the landing zone")
    defaults = SimulationDefaults.from_env()
    sim.add_argument("--scale", type=_positive, default=defaults.scale,
                     help="1 = about 10,000 accounts and 1M events (env LAKEHOUSE_SCALE)")
    sim.add_argument("--start", type=_date, default=None,
                     help=f"first day (default: {defaults.history_days} days before --end)")
    sim.add_argument("--end", type=_date, default=defaults.end,
                     help="last export date (env LAKEHOUSE_END)")
    sim.add_argument("--seed", type=int, default=defaults.seed, help="env LAKEHOUSE_SEED")
    sim.add_argument("--daily-days", type=int, default=defaults.daily_days,
                     help="how many final days come as daily exports (the rest is a backfill)")
    sim.add_argument("--dirty", type=_share, default=defaults.dirty_share,
                     help="share of contract-breaking rows to inject (e.g. 0.02)")

    ing = sub.add_parser("ingest", help="load new landing files into Bronze")
    ing.add_argument("files", nargs="*", help="only these files (inside the landing zone)")

    sub.add_parser("status", help="batches, rows and quarantined rows per entity")

    bld = sub.add_parser("build", help="build Silver and Gold with dbt (models and tests)")
    bld.add_argument("--select", help="a dbt selection, e.g. 'marts' or '+mrr_movements_monthly'")
    bld.add_argument("--full-refresh", action="store_true",
                     help="rebuild incremental models from all of Bronze")
    bld.add_argument("--models-only", action="store_true", help="skip data and unit tests")
    bld.add_argument("--tests-only", action="store_true",
                     help="run the data and unit tests only")
    bld.add_argument("--engine", choices=ENGINES, default="duckdb",
                     help="duckdb (default) or spark: the same models on Apache Spark, "
                          "into a Spark warehouse under the data root (spark extra)")

    run = sub.add_parser("run", help="ingest new files, then build Silver and Gold")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild incremental models from all of Bronze")

    reb = sub.add_parser("rebuild", help="move a damaged warehouse aside and rebuild Silver "
                         "and Gold from Bronze; --manifest re-creates the manifest instead")
    reb.add_argument("--manifest", action="store_true",
                     help="re-create a lost or damaged manifest from Bronze's lineage columns")
    reb.add_argument("--models-only", action="store_true", help="skip data and unit tests")
    sub.add_parser("summary", help="the headline numbers of the published Gold")
    ver = sub.add_parser("verify", help="check every Bronze and quarantine file against the "
                         "SHA-256 the manifest recorded")
    ver.add_argument("--quick", action="store_true",
                     help="only existence and Parquet footers (what a build checks)")
    ver.add_argument("--remove-orphans", action="store_true",
                     help="also delete uncommitted files an interrupted run left behind "
                          "(takes the pipeline lock)")
    rei = sub.add_parser("reingest", help="re-create damaged batches from their landing files")
    rei.add_argument("files", nargs="+", help="landing files, as `lakehouse verify` names them")
    fc = sub.add_parser("forecast", help="project MRR from the published Gold, with what-if "
                        "levers, or back-test the forecast (--backtest)")
    fc.add_argument("--horizon", type=int, default=12, help="months ahead (1 to 36)")
    fc.add_argument("--new-mrr-growth", type=float, default=0.0, metavar="PCT",
                    help="extra monthly growth of new business, in %% (e.g. 2)")
    fc.add_argument("--churn-change", type=float, default=0.0, metavar="POINTS",
                    help="points added to the monthly churn rate (e.g. -1)")
    fc.add_argument("--expansion-change", type=float, default=0.0, metavar="PCT",
                    help="change of expansion, in %% (e.g. 20)")
    fc.add_argument("--price-change", action="append", default=[], metavar="TIER=PCT",
                    help="price change of a tier, in %% (e.g. growth=10); repeatable")
    fc.add_argument("--segment", action="append", default=[], help="only this segment")
    fc.add_argument("--backtest", action="store_true",
                    help="forecast from every past cut-off and score it against Gold")
    fc.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sub.add_parser("docs", help="generate the static dbt docs site (offline)")
    sub.add_parser("dbt-env", help="print the environment the plain dbt CLI needs, as "
                   "shell exports: eval \"$(lakehouse dbt-env)\"")
    lin = sub.add_parser("lineage", help="the column lineage of a Silver or Gold column, "
                         "down to Bronze and the landing contract")
    lin.add_argument("column", help="<layer>.<table>.<column>, e.g. "
                     "gold.saas_kpis_monthly.mrr_usd")
    lin.add_argument("--format", choices=("text", "json"), default="text")
    exp = sub.add_parser("explain-mrr", help="one account-month's Gold MRR, version by "
                         "version, down to the Bronze batch, landing file and line")
    exp.add_argument("account_id", metavar="ACCOUNT_ID", help="an account of gold.dim_accounts")
    exp.add_argument("month", metavar="MONTH", help="YYYY-MM, within Gold's months")
    exp.add_argument("--format", choices=("table", "json"), default="table")

    hea = sub.add_parser("health", help="check freshness, volume, schema changes, quarantine "
                         "and tests now; exit 1 when a check fails")
    hea.add_argument("--format", choices=("table", "json"), default="table")
    hea.add_argument("--fail-on", choices=("fail", "warn"), default="fail",
                     help="exit 1 on failures only (default) or on warnings too")

    sql = sub.add_parser("sql", help="read-only SQL over bronze.*, silver.*, gold.*, meta.*")
    sql.add_argument("query", help='e.g. "select count(*) from bronze.events"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--max-rows", type=int, default=50, help="rows shown by --format table")
    sql.add_argument("--engine", choices=ENGINES, default="duckdb",
                     help="duckdb (default) or spark: one read query over the Spark-built "
                          "silver.* and gold.*")
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit per kind
    """Entry point of the ``lakehouse`` console script."""
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.from_env(root=args.root, landing=args.landing)
        logs.resolve_level(args.log_level)  # a bad LAKEHOUSE_LOG_LEVEL is one line here
        # With object storage, a wrong key or bucket is one line before any work starts.
        for store in {s for s in (settings.store, settings.landing_store) if s is not None}:
            store.check()
        command = COMMANDS[args.command]
        with logs.level_override(args.log_level):
            if args.command in RECORDED:
                with ledger.run(settings, args.command):
                    return command(settings, args)
            return command(settings, args)
    except LakehouseError as exc:
        print(f"lakehouse: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lakehouse: interrupted; nothing partial was committed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lakehouse sql ... | head`): stop quietly, as Unix tools do,
        # and keep Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        print("lakehouse: error: out of memory; raise LAKEHOUSE_MEMORY_LIMIT or free memory",
              file=sys.stderr)
        return 1
    except Exception as exc:  # only DuckDB's out-of-memory; anything else is re-raised
        import duckdb

        if not isinstance(exc, duckdb.OutOfMemoryException):
            raise
        print(f"lakehouse: error: out of memory at LAKEHOUSE_MEMORY_LIMIT="
              f"{os.environ.get('LAKEHOUSE_MEMORY_LIMIT', '4GB')}: raise it or free memory "
              f"({str(exc).splitlines()[0]})", file=sys.stderr)
        return 1


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    if args.quiet:
        return lambda _msg: None
    return lambda msg: print(msg, flush=True)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse simulate``: write simulated source exports into the landing zone."""
    from ingestion.simulator import simulate_to

    history = SimulationDefaults().history_days
    start = args.start or date.fromordinal(args.end.toordinal() - history)
    if start > args.end:
        raise UserInputError(f"--start {start} is after --end {args.end}")
    with ledger.step(settings, "simulate", "landing") as step:
        summary = simulate_to(settings, scale=args.scale, start=start, end=args.end,
                              seed=args.seed, daily_days=args.daily_days,
                              dirty_share=args.dirty, progress=_say(args))
        step.files_written, step.rows_written = summary.files, sum(summary.rows.values())
        step.detail = {"scale": args.scale, "seed": args.seed, "end": str(args.end)}
    total = sum(summary.rows.values())
    landing = (settings.landing_store.uri() if settings.landing_store is not None
               else settings.landing)
    print(f"simulate: {summary.files:,} files, {total:,} rows into {landing} "
          f"in {summary.seconds:.1f} s")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse ingest``: load new landing files into Bronze and print the summary."""
    from ingestion.loader import ingest

    report = ingest(settings, files=args.files or None, progress=_say(args))
    print(report.summary())
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse status``: Bronze per entity, rejected files and uncommitted orphans."""
    from ingestion.loader import list_orphans
    from ingestion.manifest import Manifest

    manifest = Manifest.open(settings)
    rows = manifest.entity_summary()
    print(f"lakehouse at {settings.data_root}"
          + (f" (state in {settings.root})" if settings.is_remote else ""))
    if not rows:
        print("Bronze is empty: run `lakehouse simulate` and `lakehouse ingest`")
    else:
        header = ("entity", "batches", "rows", "quarantined", "latest export")
        table = [(f"{r['source']}/{r['entity']}", f"{r['batches']:,}", f"{r['landed_rows']:,}",
                  f"{r['quarantined_rows']:,}", str(r["latest_export"])) for r in rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for t in table:
            print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))
        print(f"as-of date (latest export committed): {manifest.as_of_date()}")
    changes = manifest.schema_changes(limit=10)
    if changes:
        print("latest schema changes (all: meta.schema_changes):")
        for c in changes:
            print(f"  {c['source']}/{c['entity']} {c['export_date']} {c['landing_file']}: "
                  f"{c['change']} {c['column_name']} ({c['detail']})")
    rejected = manifest.rejected()
    if rejected:
        print(f"{len(rejected)} rejected file(s):")
        for r in rejected[:20]:
            print(f"  {r['landing_file']}: {r['reason']}")
    _print_latest_run_and_health(settings)
    orphans = list_orphans(settings)
    if orphans:
        print(f"{len(orphans)} uncommitted file(s) from an interrupted run "
              "(removed by the next ingest, or now by `lakehouse verify --remove-orphans`)")
    return 0


def _print_latest_run_and_health(settings: Settings) -> None:
    """The last recorded run with its steps, and the latest health checks' flags."""
    from transform import health

    last = ledger.rows(settings, "select * from runs where status != 'running' "
                       "order by started_at desc limit 1")
    if last:
        run = last[0]
        print(f"last run: {run['command']} {run['status']} at {run['started_at']} in "
              f"{run['seconds'] or 0:.1f} s" + (f": {run['error']}" if run["error"] else ""))
        for step in ledger.rows(settings, "select * from run_steps where run_id = ? order by "
                                "step_id", [run["run_id"]]):
            moved = ", ".join(f"{step[k]:,} {k.replace('_', ' ')}" for k in
                              ("rows_read", "rows_written", "quarantined_rows")
                              if step[k] is not None)
            print(f"  {step['step']} ({step['layer']}): {step['status']} in "
                  f"{step['seconds'] or 0:.1f} s" + (f", {moved}" if moved else ""))
    report = health.latest(settings)
    if report is not None:
        for line in report.lines():
            print(line)
        print("(history: meta.runs, meta.run_steps, meta.dbt_results, meta.health_checks; "
              "`lakehouse health` checks now)")


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse health``: run the data-health checks; exit 1 on a failure (or warning)."""
    import json

    from transform import health

    report = health.run_checks(settings)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print("\n".join(report.lines()))
    bad = ("fail",) if args.fail_on == "fail" else ("fail", "warn")
    return 1 if report.status in bad else 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse sql``: run one read-only query and print its result."""
    from analytics.query import format_table, run_query

    if args.engine == "spark":
        from analytics.spark_query import run_spark_query

        result = run_spark_query(settings, args.query)
    else:
        result = run_query(settings, args.query)
    print(format_table(result, args.format, max_rows=args.max_rows))
    return 0


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse rebuild``: recover from a damaged warehouse (or manifest) from Bronze."""
    if args.manifest:
        from ingestion.integrity import recover_manifest

        records = recover_manifest(settings, progress=_say(args))
        print(f"rebuild --manifest: {len(records):,} batch(es) recovered from Bronze and "
              "quarantine; run `lakehouse verify` to check them")
        return 0
    from transform.build import rebuild

    result = rebuild(settings, progress=_say(args), tests=not args.models_only)
    if args.quiet:
        print(result.summary())
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse verify``: exit 0 when Bronze is as committed, 1 naming each damaged file."""
    from ingestion.integrity import verify

    if args.remove_orphans:
        from ingestion.loader import remove_orphans
        from ingestion.manifest import Manifest
        from lakecore.lock import pipeline_lock

        with pipeline_lock(settings, "verify --remove-orphans"):
            removed = remove_orphans(settings, Manifest.open(settings))
        for relative in removed:
            _say(args)(f"removed uncommitted file: {relative}")
        print(f"verify: removed {len(removed)} uncommitted file(s) of an interrupted run")
    report = verify(settings, full=not args.quick, progress=_say(args))
    print(report.summary())
    return 0 if report.ok else 1


def cmd_reingest(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse reingest``: re-create committed batches from their landing files."""
    from ingestion.integrity import reingest

    report = reingest(settings, args.files, progress=_say(args))
    print(report.summary())
    print("run `lakehouse build` to publish Gold from the re-created batches")
    return 0


def cmd_build(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse build``: build Silver and Gold with dbt (models, tests or both)."""
    from transform.build import build

    if args.models_only and args.tests_only:
        raise UserInputError("--models-only and --tests-only exclude each other")
    if args.engine == "spark":
        from transform.spark_build import build_spark

        # Spark rebuilds every model each time (ADR 0022): --full-refresh changes nothing.
        spark_result = build_spark(settings, select=args.select, tests=not args.models_only,
                                   models=not args.tests_only, progress=_say(args))
        if args.quiet:
            print(spark_result.summary())
        return 0
    result = build(settings, select=args.select, full_refresh=args.full_refresh,
                   tests=not args.models_only, models=not args.tests_only,
                   progress=_say(args))
    if args.quiet:
        print(result.summary())
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse run``: ingest, build, then print the Gold summary."""
    from analytics.summary import format_summary, gold_summary
    from saaslake.pipeline import run

    result = run(settings, progress=_say(args), full_refresh=args.full_refresh)
    if args.quiet:
        print(result.summary())
    print(format_summary(gold_summary(settings)))
    return 0


def cmd_summary(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse summary``: print the headline numbers of the published Gold."""
    from analytics.summary import format_summary, gold_summary

    print(format_summary(gold_summary(settings)))
    return 0


def _price_changes(values: Sequence[str]) -> dict[str, float]:
    changes = {}
    for value in values:
        tier, _, pct = value.partition("=")
        try:
            changes[tier.strip()] = float(pct) / 100
        except ValueError:
            raise UserInputError(f"--price-change {value!r}: expected TIER=PERCENT, "
                                 "e.g. growth=10") from None
    return changes


def cmd_forecast(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse forecast``: the projected MRR bridge, or the back-test's summary."""
    import numpy as np
    import pyarrow as pa

    from analytics import forecast
    from analytics.filters import MetricFilters
    from analytics.query import format_table

    filters = MetricFilters(segment=tuple(args.segment))
    if args.backtest:
        record = forecast.backtest(settings, filters)
        print(format_table(record.readable() if args.format == "table" else record.rows,
                           args.format))
        return 0
    levers = forecast.Levers(new_mrr_growth=args.new_mrr_growth / 100,
                             churn_change=args.churn_change,
                             expansion_change=args.expansion_change / 100,
                             price_change=_price_changes(args.price_change))
    result = forecast.fit_forecast(settings, filters, horizon=args.horizon).project(levers)
    table = result.bridge.append_column("lower_usd", pa.array(np.round(result.lower, 2)))
    table = table.append_column("upper_usd", pa.array(np.round(result.upper, 2)))
    if args.format == "table":
        print(f"forecast from {result.cutoff:%Y-%m} (last complete month, MRR "
              f"{result.history[-1][1]:,.2f}); band: 10th to 90th percentile; new business "
              f"by {result.method}")
    print(format_table(table, args.format, max_rows=args.horizon))
    return 0


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse docs``: generate the static dbt docs site."""
    from transform.build import generate_docs

    target = generate_docs(settings, progress=_say(args))
    print(f"dbt docs written to {target} (one self-contained page: open it in a browser, "
          "no network needed)")
    return 0


def cmd_dbt_env(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse dbt-env``: the profile's variables as ``export`` lines for a shell."""
    from transform.dbt_runner import SECRET_SOURCES, profile_environment

    for name, value in profile_environment(settings).items():
        if name in SECRET_SOURCES:  # never print a credential: point at its variable
            print(f'export {name}="${{{SECRET_SOURCES[name]}:-}}"')
        else:
            print(f"export {name}={shlex.quote(value)}")
    return 0


def cmd_lineage(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse lineage``: one column's lineage down to the landing contract."""
    import json

    from transform.column_lineage import column_chain, render_text, to_json

    chain = column_chain(settings, args.column)
    print(json.dumps(to_json(chain), indent=2) if args.format == "json" else render_text(chain))
    return 0


def cmd_explain_mrr(settings: Settings, args: argparse.Namespace) -> int:
    """``lakehouse explain-mrr``: an account-month's Gold MRR down to its source lines."""
    import json

    from analytics.explain import explain_mrr

    explanation = explain_mrr(settings, args.account_id, args.month)
    print(json.dumps(explanation.to_dict(), indent=2) if args.format == "json"
          else explanation.render_table())
    return 0


COMMANDS = {
    "simulate": cmd_simulate,
    "ingest": cmd_ingest,
    "status": cmd_status,
    "sql": cmd_sql,
    "build": cmd_build,
    "run": cmd_run,
    "summary": cmd_summary,
    "docs": cmd_docs,
    "dbt-env": cmd_dbt_env,
    "verify": cmd_verify,
    "rebuild": cmd_rebuild,
    "forecast": cmd_forecast,
    "reingest": cmd_reingest,
    "lineage": cmd_lineage,
    "explain-mrr": cmd_explain_mrr,
    "health": cmd_health,
}
#: Commands that do work and are recorded in the run ledger (``meta.runs``) as one run each;
#: ``ingest``, ``build``, ``run`` and ``rebuild`` record themselves in the library as well.
RECORDED = frozenset({"simulate", "ingest", "build", "run", "rebuild", "verify", "reingest",
                      "docs", "health"})


if __name__ == "__main__":
    sys.exit(main())
