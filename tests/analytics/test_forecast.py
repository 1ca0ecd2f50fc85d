"""The MRR forecast (analytics.forecast): by hand on a small book, against Gold, and its record.

The hand-made book has one segment and one tier: cohort 0 starts with $1,000 and loses 10 %
a month; cohort 1 starts with $500 a month later and also loses 10 %; cohort 2 starts with $500
in the cut-off month. Every rate is 10 % churn, nothing expands or contracts, and three months
of new MRR are too few for a trend, so new business is their mean, $666.67 a month.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from analytics import forecast, metrics
from analytics.forecast import ForecastError, Levers
from lakecore.settings import Settings
from transform.warehouse import connect_readonly

NEW = (1000 + 500 + 500) / 3
BOOK = 810 + 450 + 500


def hand_cube() -> forecast._Cube:
    """The book of the module docstring as the forecast's cube (3 cohorts, 3 months)."""
    shape = (3, 1, 1, 3)
    arrays = {name: np.zeros(shape) for name in
              ("mrr", "churned", "contraction", "expansion", "new", "active")}
    for cohort, month, mrr, churned, new, active in (
        (0, 0, 1000, 0, 1000, 100), (0, 1, 900, 100, 0, 90), (0, 2, 810, 90, 0, 81),
        (1, 1, 500, 0, 500, 50), (1, 2, 450, 50, 0, 45),
        (2, 2, 500, 0, 500, 50),
    ):
        where = (cohort, 0, 0, month)
        arrays["mrr"][where], arrays["churned"][where] = mrr, churned
        arrays["new"][where], arrays["active"][where] = new, active
    months = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    return forecast._Cube(months, ["smb"], ["growth"], last_complete=2, **arrays)


@pytest.fixture
def hand_model() -> forecast.Forecast:
    return forecast._fit(hand_cube(), 2, 3, samples=50, seed=1)


def test_a_hand_made_book_is_projected_as_computed_by_hand(hand_model: forecast.Forecast
                                                            ) -> None:
    """Given the hand-made book (10 % churn at every age, new MRR $666.67 a month), when it is
    projected three months, then each month is last month's MRR times 0.9 plus new business,
    and the bridge says so."""
    # When the hand-made book is projected without levers
    result = hand_model.project()
    # Then each month keeps 90 % of the month before and adds the new business
    month1 = BOOK * 0.9 + NEW
    month2 = month1 * 0.9 + NEW
    month3 = month2 * 0.9 + NEW
    assert result.mrr == pytest.approx([month1, month2, month3], rel=1e-12)
    assert result.months == [date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]
    assert result.cutoff == date(2025, 3, 1)
    assert result.method.startswith("recent mean")
    # and the bridge of the first month is opening, churn and new business, in cents
    first = result.bridge.slice(0, 1).to_pylist()[0]
    assert first["opening_mrr_usd"] == BOOK
    assert first["churned_mrr_usd"] == 176.0
    assert first["new_mrr_usd"] == 666.67
    assert first["expansion_mrr_usd"] == first["contraction_mrr_usd"] == 0
    assert first["closing_mrr_usd"] == 2250.67
    assert result.history == [(date(2025, 1, 1), 1000.0), (date(2025, 2, 1), 1400.0),
                              (date(2025, 3, 1), 1760.0)]


@pytest.mark.parametrize(("levers", "month1", "month2"), [
    # one point of churn is 1 % of the book: 5 points less keeps 95 %
    (Levers(churn_change=-5.0), BOOK * 0.95 + NEW, (BOOK * 0.95 + NEW) * 0.95 + NEW),
    # a 10 % price rise on the tier raises the staying book and new business by 10 %
    (Levers(price_change={"growth": 0.1}), (BOOK * 0.9 + NEW) * 1.1,
     (BOOK * 0.9 + NEW) * 1.1 * 0.9 + NEW * 1.1),
    # 10 % more new business each month, compounding
    (Levers(new_mrr_growth=0.1), BOOK * 0.9 + NEW * 1.1,
     (BOOK * 0.9 + NEW * 1.1) * 0.9 + NEW * 1.21),
])
def test_levers_move_the_hand_made_book_as_computed_by_hand(
        hand_model: forecast.Forecast, levers: Levers, month1: float, month2: float) -> None:
    """Given the hand-made book, when a lever is set, then the first two months are what the
    lever's definition gives by hand."""
    result = hand_model.project(levers, horizon=2)
    assert result.mrr == pytest.approx([month1, month2], rel=1e-12)


@pytest.mark.parametrize(("levers", "message"), [
    (lambda: Levers(churn_change=float("nan")), "lever churn_change: expected a number"),
    (lambda: Levers(new_mrr_growth=3), "lever new_mrr_growth: expected a number in [-1.0, 1.0]"),
    (lambda: Levers(price_change={"growth": "10%"}), "lever price_change['growth']"),
])
def test_a_bad_lever_is_one_clear_error(levers: Callable[[], Levers], message: str) -> None:
    """Given a lever outside what the model can mean, when it is made, then the error names it."""
    with pytest.raises(ForecastError, match=message.replace("[", r"\[").replace("(", r"\(")):
        levers()


def test_unknown_tier_and_horizon_are_refused(hand_model: forecast.Forecast) -> None:
    """Given a fitted model, when a lever names an unknown tier or the horizon is beyond the
    fitted one, then each is one clear error."""
    with pytest.raises(ForecastError, match=r"unknown tier.*scale.*tiers: growth"):
        hand_model.project(Levers(price_change={"scale": 0.1}))
    with pytest.raises(ForecastError, match="horizon: expected 1 to 3 months"):
        hand_model.project(horizon=4)


# Against Gold ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gold_model(lakehouse: Settings) -> forecast.Forecast:
    return forecast.fit_forecast(lakehouse)


def test_history_is_gold_and_the_bridge_holds(lakehouse: Settings,
                                              gold_model: forecast.Forecast) -> None:
    """Given the published Gold of a real build, when MRR is forecast, then its history equals
    gold.saas_kpis_monthly to the cent, the forecast starts from the last complete month, and
    every projected month's bridge adds up and opens at the month before's close."""
    # Given the published Gold
    with connect_readonly(lakehouse) as con:
        gold = dict(con.execute("select month_start, mrr_usd from gold.saas_kpis_monthly"
                                ).fetchall())
    # When MRR is forecast twelve months ahead
    result = gold_model.project()
    # Then its history is Gold's MRR, month by month, to the cent
    assert len(result.history) >= 20
    for month, mrr in result.history:
        assert round(mrr, 2) == float(gold[month])
    # and the bridge opens at the cut-off's MRR and adds up every month
    rows = result.bridge.to_pylist()
    assert len(rows) == 12
    assert rows[0]["opening_mrr_usd"] == pytest.approx(result.history[-1][1])
    for before, row in zip([None, *rows], rows, strict=False):
        if before is not None:
            assert row["opening_mrr_usd"] == pytest.approx(before["closing_mrr_usd"])
        assert row["closing_mrr_usd"] == pytest.approx(
            row["opening_mrr_usd"] + row["new_mrr_usd"] + row["expansion_mrr_usd"]
            - row["contraction_mrr_usd"] - row["churned_mrr_usd"])
    assert [r["closing_mrr_usd"] for r in rows] == pytest.approx(result.mrr.tolist())
    assert (result.lower <= result.upper).all()


def test_levers_move_gold_forecast_the_way_they_say(gold_model: forecast.Forecast) -> None:
    """Given a forecast of the real build, when churn drops, expansion, growth or a tier's price
    rise, then every projected month is higher; and the reverse levers lower it."""
    base = gold_model.project().mrr
    tier = gold_model.tiers[0]
    for up, down in (
        (Levers(churn_change=-1.0), Levers(churn_change=1.0)),
        (Levers(expansion_change=0.5), Levers(expansion_change=-0.5)),
        (Levers(new_mrr_growth=0.05), Levers(new_mrr_growth=-0.05)),
        (Levers(price_change={tier: 0.1}), Levers(price_change={tier: -0.1})),
    ):
        assert (gold_model.project(up).mrr > base).all(), up
        assert (gold_model.project(down).mrr < base).all(), down


def test_a_filtered_forecast_covers_only_the_slice(lakehouse: Settings) -> None:
    """Given the real build, when the forecast is filtered to one segment, then its history is
    that segment's MRR from the metric layer."""
    filters = metrics.MetricFilters(segment=("smb",))
    result = forecast.forecast_mrr(lakehouse, horizon=3, filters=filters)
    kpis = metrics.fetch_dashboard(lakehouse, filters).kpis.to_pylist()
    by_month = {row["month_start"]: float(row["mrr_usd"]) for row in kpis}
    assert [round(v, 2) for _, v in result.history] == [by_month[m] for m, _ in result.history]


def test_a_cutoff_outside_gold_is_refused(lakehouse: Settings) -> None:
    """Given the real build, when the cut-off is before Gold or the horizon too long, then each
    is one clear error."""
    with pytest.raises(ForecastError, match="cut-off 1999-01: expected a complete month"):
        forecast.fit_forecast(lakehouse, cutoff=date(1999, 1, 1))
    with pytest.raises(ForecastError, match="horizon: expected 1 to 36 months"):
        forecast.fit_forecast(lakehouse, horizon=0)


#: The back-test of ``business`` (scale 0.05, seed 42, three years): per horizon, the MAPE the
#: model may not exceed and the band coverage it may not fall below (rounded up / down from
#: the measured 13.49 %, 16.05 %, 28.18 % and 50.0 %, 68.4 %, 69.2 %). A change to the model
#: that makes either worse fails here; docs/architecture/forecast.md has larger runs.
#: The damped-trend smoothing is fitted by a numerical optimiser whose optimum moves in the
#: last digits with the CPU's floating-point paths (13.55 %, 16.22 %, 28.67 % on an AMD EPYC
#: for the same data), so the MAPE record holds within ``MAPE_SLACK``.
RECORD = {3: (0.1349, 0.500), 6: (0.1605, 0.684), 12: (0.2819, 0.692)}
MAPE_SLACK = 0.01


@pytest.fixture(scope="module")
def business(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Three years of the simulated company at scale 0.05 (about 500 accounts), built."""
    from ingestion.simulator import simulate
    from ingestion.simulator.core import DEFAULT_END
    from saaslake.pipeline import run

    settings = Settings.from_env(root=tmp_path_factory.mktemp("forecast") / "lakehouse")
    simulate(settings.landing, scale=0.05, seed=42, end=DEFAULT_END,
             start=DEFAULT_END - timedelta(days=3 * 365), daily_days=1)
    run(settings, tests=False)
    return settings


@pytest.mark.slow
def test_backtest_keeps_its_record_and_beats_both_baselines(business: Settings) -> None:
    """Given three simulated years (one seed), when the forecast is back-tested from every
    cut-off with a year of history, then at 3, 6 and 12 months its error is no worse and its
    band's coverage no lower than recorded, its error is below both baselines', and every
    scored month is the actual Gold month."""
    # When the forecast is back-tested from every cut-off
    record = forecast.backtest(business)
    figures = record.figures()
    # Then it keeps its record and beats the flat and the linear baseline at every horizon
    for horizon, (mape, coverage) in RECORD.items():
        row = figures[horizon]
        assert row["forecasts"] >= 10
        assert row["mape_forecast"] <= mape + MAPE_SLACK
        assert row["band_coverage"] >= coverage
        assert row["mape_forecast"] < row["mape_flat"]
        assert row["mape_forecast"] < row["mape_linear"]
    # and every scored forecast is compared with the actual Gold month
    actual = dict(forecast.fit_forecast(business).project().history)
    for row in record.rows.to_pylist():
        month = row["cutoff"]
        for _ in range(row["horizon"]):
            month = (month + timedelta(days=32)).replace(day=1)
        assert row["actual"] == pytest.approx(actual[month])
        assert row["flat"] == pytest.approx(actual[row["cutoff"]])
        assert row["ape_forecast"] == pytest.approx(abs(row["forecast"] - row["actual"])
                                                    / row["actual"])
