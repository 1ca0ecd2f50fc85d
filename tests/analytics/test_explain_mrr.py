"""Row lineage of Gold MRR (``analytics.explain``, ``lakehouse explain-mrr``) on the kitchen sink.

The hand-made landing zone of tests/fixtures/metrics (its README gives every account's history
and hand-computed MRR) is ingested and built once for the module; every account-month of
gold.fct_account_mrr_monthly is explained and must add up to Gold's mrr_usd exactly, and a few
explanations are checked against the README down to the landing file and line.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from analytics.explain import (
    EXPLANATION_SCHEMA,
    ExplainError,
    MrrExplanation,
    explain_mrr,
    explanation_table,
    round_half_up,
)
from analytics.query import open_readonly
from lakecore.errors import UserInputError
from lakecore.settings import Settings
from saaslake.cli import main
from transform.warehouse import WarehouseNotBuiltError, connect_readonly


@pytest.fixture
def kitchen_sink(kitchen_sink_lake: Settings) -> Settings:
    """The kitchen-sink landing zone, ingested and built once per session (tests/conftest.py)."""
    return kitchen_sink_lake


def gold_mrr(settings: Settings) -> list[tuple[str, date, Decimal]]:
    with connect_readonly(settings) as con:
        return con.execute("select account_id, month_start, mrr_usd "
                           "from gold.fct_account_mrr_monthly order by all").fetchall()


def landing_line(settings: Settings, source_file: str, line_number: int) -> str:
    """The physical line ``line_number`` (1-based) of a landing file."""
    return (settings.landing / source_file).read_text().splitlines()[line_number - 1]


def counting(explanation: MrrExplanation) -> list:
    return [v for v in explanation.versions if v.counts]


# Every account-month adds up to Gold ------------------------------------------------------
def test_every_gold_account_month_is_explained_to_the_cent(kitchen_sink: Settings) -> None:
    """Given the built kitchen sink, when every account-month of gold.fct_account_mrr_monthly is
    explained, then the exact sum of its contributions, rounded half up once, is Gold's mrr_usd
    (Decimal equality), and each contributing version is in effect at the snapshot instant."""
    rows = gold_mrr(kitchen_sink)
    assert len(rows) == 101
    for account_id, month_start, mrr_usd in rows:
        explanation = explain_mrr(kitchen_sink, account_id, f"{month_start:%Y-%m}")
        assert explanation.gold_mrr_usd == mrr_usd
        assert explanation.total_usd == mrr_usd, (account_id, month_start)
        assert explanation.matches_gold
        assert isinstance(explanation.total_usd, Decimal)
        for version in explanation.versions:
            assert version.updated_at < explanation.snapshot_before
            assert version.version_source is not None
            assert version.mrr_usd_exact == 0 or version.counts
        # one version in effect per subscription
        subscriptions = [v.subscription_id for v in explanation.versions]
        assert len(subscriptions) == len(set(subscriptions))


# Hand-checked explanations (tests/fixtures/metrics/README.md) ----------------------------
def test_gbp_annual_trial_conversion_is_rated_at_the_conversion_day(kitchen_sink: Settings
                                                                    ) -> None:
    """Given acc_02 (trial from 2024-01-20, active on a GBP annual plan from 2024-02-03), when
    March 2024 is explained, then its one version is rated at GBP 2024-02-01 = 1.2650: 3 x 390.00
    / 12 x 1.2650 = 123.3375 -> 123.34, with the rate's landing file and line."""
    explanation = explain_mrr(kitchen_sink, "acc_02", "2024-03")
    (version,) = explanation.versions
    assert (version.subscription_id, version.status, version.plan_id) == \
        ("sub_02", "active", "growth_y_gbp")
    assert (version.plan_amount, version.currency, version.billing_interval,
            version.interval_count, version.months_per_interval, version.quantity) == \
        (Decimal("390.00"), "gbp", "year", 1, 12, 3)
    assert version.terms_date == date(2024, 2, 3)
    assert version.usd_per_unit == Decimal("1.2650")
    assert version.fx_rate_date == date(2024, 2, 1)
    assert version.mrr_usd_exact == Fraction("123.3375")
    assert explanation.total_usd == Decimal("123.34")
    assert version.fx_source is not None
    assert version.fx_source.source_file == "billing/fx_rates/2025-03-14/part-0001.csv"
    assert landing_line(kitchen_sink, version.fx_source.source_file,
                        version.fx_source.line_number) == "2024-02-01,gbp,1.2650"


def test_trialing_month_explains_why_it_contributes_nothing(kitchen_sink: Settings) -> None:
    """Given acc_02 trialing at the January 2024 snapshot (before its first month in Gold), when
    that month is explained, then the trialing version is listed, contributes 0 and says why;
    Gold has no row, so the total is 0.00."""
    explanation = explain_mrr(kitchen_sink, "acc_02", "2024-01")
    (version,) = explanation.versions
    assert (version.status, version.counts, version.mrr_usd_exact) == ("trialing", False, 0)
    assert "trialing does not count" in version.reason
    assert explanation.gold_mrr_usd is None
    assert explanation.total_usd == Decimal("0.00")
    assert explanation.matches_gold


def test_eur_seat_change_uses_the_corrected_rate_and_names_the_correction_line(
        kitchen_sink: Settings) -> None:
    """Given acc_04's seat change on 2024-06-10, rated at EUR 2024-06-10 which the 2025-03-15
    export corrects from 1.0800 to 1.0750, when July 2024 is explained, then 135.00 x 1.0750 =
    145.125 -> 145.13 (half up), and the rate's lineage is the correction's batch, file and
    line."""
    explanation = explain_mrr(kitchen_sink, "acc_04", "2024-07")
    (version,) = explanation.versions
    assert (version.quantity, version.plan_amount, version.terms_date) == \
        (3, Decimal("45.00"), date(2024, 6, 10))
    assert (version.usd_per_unit, version.fx_rate_date) == (Decimal("1.0750"), date(2024, 6, 10))
    assert version.mrr_usd_exact == Fraction("145.125")
    assert explanation.total_usd == explanation.gold_mrr_usd == Decimal("145.13")
    fx = version.fx_source
    assert fx is not None
    assert (fx.source_file, fx.line_number, fx.export_date) == \
        ("billing/fx_rates/2025-03-15/part-0001.csv", 4, date(2025, 3, 15))
    assert landing_line(kitchen_sink, fx.source_file, fx.line_number) == "2024-06-10,eur,1.0750"
    # and Bronze holds that row under that batch and line, as the manifest lists the batch
    con = open_readonly(kitchen_sink)
    try:
        bronze = con.execute("select rate_date, usd_per_unit from bronze.fx_rates "
                             "where _batch_id = ? and _line_number = ?",
                             [fx.batch_id, fx.line_number]).fetchall()
        batch = con.execute("select landing_file from meta.batches where batch_id = ?",
                            [fx.batch_id]).fetchone()
    finally:
        con.close()
    assert [(d, float(r)) for d, r in bronze] == [(date(2024, 6, 10), 1.075)]
    assert batch == (fx.source_file,)


def test_discount_tie_is_won_by_the_later_file_and_traced_to_it(kitchen_sink: Settings) -> None:
    """Given acc_01's discount change on 2025-03-17T08:00Z delivered as 25 % in part-0001.jsonl
    and 30 % in part-0002.jsonl, when March 2025 (the partial as-of month) is explained, then
    the version is 5 x 29.00 x 0.7 = 101.50 from part-0002.jsonl line 1, and the snapshot
    instant is the end of the as-of date."""
    explanation = explain_mrr(kitchen_sink, "acc_01", "2025-03")
    (version,) = explanation.versions
    assert (version.discount_percent, version.quantity, version.plan_id) == \
        (Decimal(30), 5, "starter_m_usd")
    assert (version.usd_per_unit, version.fx_source) == (Decimal(1), None)
    assert explanation.total_usd == Decimal("101.50") == explanation.gold_mrr_usd
    source = version.version_source
    assert source is not None
    assert (source.source_file, source.line_number) == \
        ("billing/subscriptions/2025-03-17/part-0002.jsonl", 1)
    assert json.loads(landing_line(kitchen_sink, source.source_file,
                                   source.line_number))["discount_percent"] == 30
    assert explanation.snapshot_before.isoformat() == "2025-03-18T00:00:00+00:00"
    assert version.plan_source is not None
    assert landing_line(kitchen_sink, version.plan_source.source_file,
                        version.plan_source.line_number).startswith("starter_m_usd,")


def test_two_annual_subscriptions_are_summed_exactly_and_rounded_once(kitchen_sink: Settings
                                                                     ) -> None:
    """Given acc_07 back in September 2024 with two starter_y_usd subscriptions (and its old
    cancelled one still the version in effect of sub_07a), when that month is explained, then
    each contributes 290/12 exactly, the sum 48.333... rounds once to 48.33 (per subscription
    would give 48.34), and the cancelled version is listed with its reason."""
    explanation = explain_mrr(kitchen_sink, "acc_07", "2024-09")
    assert [v.mrr_usd_exact for v in counting(explanation)] == [Fraction(290, 12)] * 2
    assert sum(round_half_up(v.mrr_usd_exact, 2) for v in counting(explanation)) == \
        Decimal("48.34")
    assert explanation.total_usd == explanation.gold_mrr_usd == Decimal("48.33")
    cancelled = [v for v in explanation.versions if not v.counts]
    assert [(v.subscription_id, v.status) for v in cancelled] == [("sub_07a", "canceled")]
    assert explanation.movement == "reactivation"


def test_unpaid_and_no_version_in_effect_explain_zero(kitchen_sink: Settings) -> None:
    """Given acc_03 unpaid at the July 2024 snapshot and acc_05 whose first version starts at
    2024-03-01T00:00Z (B of February), when those months are explained, then acc_03's version
    says unpaid does not count (0.00, churn) and acc_05 has no version in effect."""
    unpaid = explain_mrr(kitchen_sink, "acc_03", "2024-07")
    (version,) = unpaid.versions
    assert version.status == "unpaid"
    assert not version.counts
    assert "unpaid does not count" in version.reason
    assert (unpaid.total_usd, unpaid.gold_mrr_usd, unpaid.movement) == \
        (Decimal("0.00"), Decimal("0.00"), "churn")
    empty = explain_mrr(kitchen_sink, "acc_05", "2024-02")
    assert empty.versions == ()
    assert empty.total_usd == Decimal("0.00")
    assert "no subscription version" in empty.render_table()


def test_version_tie_across_exports_is_traced_to_the_later_export(kitchen_sink: Settings
                                                                  ) -> None:
    """Given acc_10's first version delivered with 4 seats (export 2025-03-14) and again with 6
    (export 2025-03-15), when November 2024 is explained, then 6 x 490.00 / 12 = 245.00 and the
    version's lineage is the 2025-03-15 export."""
    explanation = explain_mrr(kitchen_sink, "acc_10", "2024-11")
    (version,) = explanation.versions
    assert version.quantity == 6
    assert explanation.total_usd == Decimal("245.00")
    assert version.version_source is not None
    assert version.version_source.export_date == date(2025, 3, 15)


def test_explanation_table_is_typed_and_sums_to_the_exact_total(kitchen_sink: Settings) -> None:
    """Given an explanation of three versions, when it is turned into an Arrow table, then it has
    the documented schema, one row per version, and its lineage columns are filled."""
    explanation = explain_mrr(kitchen_sink, "acc_07", "2024-09")
    table = explanation_table(explanation)
    assert table.schema == EXPLANATION_SCHEMA
    assert table.num_rows == 3
    rows = table.to_pylist()
    assert [r["mrr_usd_exact"] for r in rows] == ["0.00", "145/6", "145/6"]
    assert all(r["version_source_file"] and r["version_line_number"] for r in rows)
    assert {r["fx_source_file"] for r in rows} == {None}


# The CLI -----------------------------------------------------------------------------------
def test_cli_prints_the_table(kitchen_sink: Settings, capsys: pytest.CaptureFixture[str]
                              ) -> None:
    """Given the built kitchen sink, when `lakehouse explain-mrr acc_04 2024-07` runs, then it
    prints the total, the version row and the correction's landing file and line."""
    assert main(["--root", str(kitchen_sink.root), "explain-mrr", "acc_04", "2024-07"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("acc_04 2024-07: MRR 145.13 USD; gold.fct_account_mrr_monthly."
                          "mrr_usd 145.13 (unchanged); matches")
    assert "| growth_m_eur |" in out
    assert "1.0750" in out
    assert "billing/fx_rates/2025-03-15/part-0001.csv line 4" in out
    assert "145.125 USD exact -> 145.13" in out


def test_cli_prints_valid_json(kitchen_sink: Settings, capsys: pytest.CaptureFixture[str]
                               ) -> None:
    """Given the built kitchen sink, when `lakehouse explain-mrr acc_02 2024-03 --format json`
    runs, then stdout is one JSON document with the total, Gold's figure and each source."""
    assert main(["--root", str(kitchen_sink.root), "explain-mrr", "acc_02", "2024-03",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["mrr_usd"], doc["gold_mrr_usd"], doc["matches_gold"]) == \
        ("123.34", "123.34", True)
    (version,) = doc["versions"]
    assert (version["usd_per_unit"], version["fx_rate_date"], version["mrr_usd_exact"]) == \
        ("1.26500000", "2024-02-01", "123.3375")
    assert version["sources"]["fx_rate"]["source_file"] == \
        "billing/fx_rates/2025-03-14/part-0001.csv"
    assert set(version["sources"]) == {"version", "plan", "fx_rate"}


@pytest.mark.parametrize(("account", "month", "needle"), [
    ("acc_99", "2024-07", "unknown account 'acc_99'"),
    ("acc_01", "2024-13", "'2024-13' is not a month"),
    ("acc_01", "2024-7", "'2024-7' is not a month"),
    ("acc_01", "July", "'July' is not a month"),
    ("acc_01", "2023-12", "month 2023-12 is outside Gold"),
    ("acc_01", "2025-04", "month 2025-04 is outside Gold"),
])
def test_cli_errors_are_one_line(kitchen_sink: Settings, capsys: pytest.CaptureFixture[str],
                                 account: str, month: str, needle: str) -> None:
    """Given the built kitchen sink, when explain-mrr gets an unknown account, a malformed month
    or a month outside Gold, then it exits 2 with one line on stderr naming the problem."""
    assert main(["--root", str(kitchen_sink.root), "explain-mrr", account, month]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("lakehouse: error: ")
    assert needle in err
    with pytest.raises(ExplainError, match=needle):
        explain_mrr(kitchen_sink, account, month)


def test_before_any_build_it_says_to_build(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Given a lakehouse that was never built, when explain-mrr runs, then it exits 2 with one
    line telling the user to run `lakehouse build`, and the library raises a UserInputError."""
    root = tmp_path / "lakehouse"
    assert main(["--root", str(root), "explain-mrr", "acc_01", "2024-07"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "run `lakehouse build`" in err
    with pytest.raises(WarehouseNotBuiltError):
        explain_mrr(Settings.from_env(root=root), "acc_01", "2024-07")
    assert issubclass(WarehouseNotBuiltError, UserInputError)
