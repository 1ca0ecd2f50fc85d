"""Where MRR is heading: a cohort forecast with what-if levers, and its back-test.

The method (docs/architecture/forecast.md has it in full, with its assumptions):

* **The book** at the cut-off month is split into groups of accounts with the same cohort
  (first month with MRR), segment and plan tier. Each group's MRR moves month by month
  along the *net MRR retention curve* of its segment: for every age k (months since the
  cohort started) the share of the MRR at age k that churns, contracts and expands (with
  reactivation) by age k + 1, pooled over all cohorts observed at that age up to the
  cut-off (a chain-ladder). An age with fewer than ``MIN_ACCOUNTS`` paying accounts
  behind it uses the whole business's curve; an age older than any well-observed one uses
  the tail rate (the pooled rates of the last ``TAIL_AGES`` well-observed ages).
* **New business** is the monthly new MRR (movement ``new``), projected by a damped-trend
  exponential smoothing model (statsmodels' Holt) on the last ``TREND_MONTHS`` complete
  months, split across segments and tiers as the last twelve months were, and retained
  along the same curves from age 0. Reactivations are in the curves, not here.
* **Uncertainty**: ``SAMPLES`` bootstrap samples. Each resamples the cohorts (with
  replacement) behind the curves, scales its churn, contraction and expansion by how one
  randomly drawn past month deviated from the curves, and draws a new-business path from
  the smoothing model with bootstrapped residuals. The band is the 10th to 90th
  percentile of the samples.

``fit_forecast`` reads Gold once (one grouped query) and estimates everything that does
not depend on the levers; ``Forecast.project`` applies levers in NumPy in milliseconds, so
a slider recomputes at once. ``forecast_mrr`` is both in one call. ``backtest`` refits at
many past cut-offs, from data up to each cut-off only, and compares with what Gold later
showed, next to two naive baselines.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from analytics.filters import MetricFilters, month_of
from analytics.metrics import account_attributes, account_mrr, open_metrics
from lakecore.errors import UserInputError
from lakecore.settings import Settings
from transform.warehouse import current_publication

#: Fewest paying accounts behind an age's rates before they are trusted on their own.
MIN_ACCOUNTS = 20
#: Well-observed ages pooled into the tail rate (used beyond the oldest such age).
TAIL_AGES = 6
#: Complete months of new MRR the trend model is fitted on.
TREND_MONTHS = 24
#: Fewest months for the trend model; with fewer, new MRR is held at its recent mean.
MIN_TREND_MONTHS = 9
#: New MRR above median + this many robust deviations is clipped before the trend fit.
SPIKE_MADS = 3.0
#: Bootstrap samples behind the band, and the band's percentiles.
SAMPLES = 200
BAND = (10.0, 90.0)
#: Fewest complete months of history before a cut-off the back-test forecasts from.
MIN_HISTORY = 12
UNKNOWN = "(none)"


class ForecastError(UserInputError):
    """The forecast cannot be made as asked (a bad lever, too little history)."""


@dataclass(frozen=True)
class Levers:
    """What-if changes applied to every forecast month.

    Attributes:
        new_mrr_growth: Extra monthly growth of new business, compounding from the first
            forecast month: 0.02 is 2 % more each month than the trend says.
        churn_change: Points added to the monthly churn rate of the book (the share of
            MRR whose accounts leave): -1.0 is one point less churn every month.
        expansion_change: Relative change of expansion (and reactivation): 0.2 is 20 %
            more expansion MRR than the curves say.
        price_change: Tier -> relative price change from the first forecast month, for the
            book and new business of that tier: {"pro": 0.1} is a 10 % price rise on Pro
            (no change of churn is assumed).
    """

    new_mrr_growth: float = 0.0
    churn_change: float = 0.0
    expansion_change: float = 0.0
    price_change: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse levers outside what the model can mean."""
        checks = [
            ("new_mrr_growth", self.new_mrr_growth, -1.0, 1.0),
            ("churn_change", self.churn_change, -100.0, 100.0),
            ("expansion_change", self.expansion_change, -1.0, 10.0),
            *((f"price_change[{tier!r}]", change, -1.0, 10.0)
              for tier, change in self.price_change.items()),
        ]
        for name, value, low, high in checks:
            if not isinstance(value, int | float) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise ForecastError(f"lever {name}: expected a number in [{low}, {high}], "
                                    f"got {value!r}")


@dataclass(frozen=True)
class _Cube:
    """Gold's account MRR summed per cohort, segment, tier and month (float USD)."""

    months: list[date]
    segments: list[str]
    tiers: list[str]
    mrr: np.ndarray  # [cohort, segment, tier, month]
    churned: np.ndarray
    contraction: np.ndarray
    expansion: np.ndarray  # expansion and reactivation
    new: np.ndarray
    active: np.ndarray  # paying accounts
    last_complete: int  # index of the last complete month


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _load_cube(settings: Settings, filters: MetricFilters) -> _Cube:
    as_of = current_publication(settings).as_of_date
    with open_metrics(settings) as backend:
        facts = account_mrr(backend, filters)
        attributes = account_attributes(backend).select("account_id", "segment", "tier")
        rows = facts.left_join(attributes, "account_id")
        movement = rows.movement
        zero = ibis.literal(0.0)
        money = {name: rows[name].cast("float64")
                 for name in ("mrr_usd", "previous_mrr_usd", "mrr_change_usd")}
        cube = rows.group_by(
            "month_start", "cohort_month",
            segment=rows.segment.fill_null(UNKNOWN), tier=rows.tier.fill_null(UNKNOWN),
        ).aggregate(
            mrr=money["mrr_usd"].sum(),
            churned=ibis.cases((movement == "churn", money["previous_mrr_usd"]),
                               else_=zero).sum(),
            contraction=ibis.cases((movement == "contraction", -money["mrr_change_usd"]),
                                   else_=zero).sum(),
            expansion=ibis.cases((movement.isin(["expansion", "reactivation"]),
                                  money["mrr_change_usd"]), else_=zero).sum(),
            new=ibis.cases((movement == "new", money["mrr_usd"]), else_=zero).sum(),
            active=(rows.mrr_usd > 0).sum().cast("float64"),
        ).to_pyarrow()
    if cube.num_rows == 0:
        raise ForecastError("nothing to forecast: no account with MRR matches the filters")
    data = cube.to_pydict()
    first = min(data["cohort_month"])
    last = max(data["month_start"])
    n_months = (last.year - first.year) * 12 + last.month - first.month + 1
    months = [_add_months(first, i) for i in range(n_months)]
    segments, tiers = sorted(set(data["segment"])), sorted(set(data["tier"]))
    shape = (n_months, len(segments), len(tiers), n_months)
    arrays = {name: np.zeros(shape) for name in
              ("mrr", "churned", "contraction", "expansion", "new", "active")}
    index = {m: i for i, m in enumerate(months)}
    where = (np.array([index[m] for m in data["cohort_month"]]),
             np.array([segments.index(s) for s in data["segment"]]),
             np.array([tiers.index(t) for t in data["tier"]]),
             np.array([index[m] for m in data["month_start"]]))
    for name, array in arrays.items():
        array[where] = np.asarray(data[name], dtype=float)
    as_of_day = date.fromisoformat(as_of) if as_of else last
    month_is_complete = _add_months(month_of(as_of_day), 1) == date.fromordinal(
        as_of_day.toordinal() + 1)
    last_complete = n_months - 1 if month_is_complete else n_months - 2
    return _Cube(months, segments, tiers, last_complete=last_complete, **arrays)


@dataclass(frozen=True)
class _Rates:
    """Monthly rates by sample, segment and age: from age k to k + 1."""

    churn: np.ndarray  # [sample, segment, age]
    contraction: np.ndarray
    expansion: np.ndarray


def _by_age(array: np.ndarray, cutoff: int, ages: int, shift: int) -> np.ndarray:
    """[cohort, segment, age] sums of ``array`` at month cohort + age + shift <= cutoff."""
    cohorts, segments = array.shape[0], array.shape[1]
    summed = array.sum(axis=2)  # over tiers
    out = np.zeros((cohorts, segments, ages))
    for c in range(min(cohorts, cutoff + 1)):
        width = min(ages, cutoff - c - shift + 1)
        if width > 0:
            out[c, :, :width] = summed[c, :, c + shift:c + shift + width]
    return out


def _estimate_rates(cube: _Cube, cutoff: int, ages: int, weights: np.ndarray) -> _Rates:
    """Chain-ladder rates for each weighting of the cohorts ([sample, cohort] weights)."""
    base = _by_age(cube.mrr, cutoff - 1, ages, 0)  # the transition to k + 1 must be seen
    active = _by_age(cube.active, cutoff - 1, ages, 0)
    flows = {name: _by_age(getattr(cube, name), cutoff, ages, 1)
             for name in ("churned", "contraction", "expansion")}
    full = np.ones(base.shape[0])
    pooled_active = np.einsum("c,csk->k", full, active)
    segment_active = np.einsum("c,csk->sk", full, active)
    trusted_pooled = pooled_active >= MIN_ACCOUNTS
    trusted_segment = segment_active >= MIN_ACCOUNTS
    reliable = np.flatnonzero(trusted_pooled)
    tail_from = max(0, reliable[-1] - TAIL_AGES + 1) if reliable.size else 0
    tail_ages = (np.arange(ages) >= tail_from) & trusted_pooled if reliable.size \
        else np.arange(ages) < max(1, cutoff)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        """Per sample num / den; where a sample drew no cohort behind it, sample 0's."""
        value = num / np.where(den > 0, den, 1.0)
        return np.where(den > 0, value, value[:1])

    def rates(flow: np.ndarray) -> np.ndarray:
        den_s = np.einsum("bc,csk->bsk", weights, base)
        num_s = np.einsum("bc,csk->bsk", weights, flow)
        den_p, num_p = den_s.sum(axis=1), num_s.sum(axis=1)
        tail = ratio(num_p[:, tail_ages].sum(axis=1), den_p[:, tail_ages].sum(axis=1))
        pooled = np.where(trusted_pooled, ratio(num_p, den_p), tail[:, None])
        segment = np.where(trusted_segment, ratio(num_s, den_s), pooled[:, None, :])
        return np.clip(segment, 0.0, None)

    churn = np.clip(rates(flows["churned"]), 0.0, 1.0)
    contraction = rates(flows["contraction"])
    return _Rates(churn, np.minimum(contraction, 1.0 - churn), rates(flows["expansion"]))


def _tame_spikes(series: np.ndarray) -> np.ndarray:
    """Clip months above median + ``SPIKE_MADS`` robust deviations (one-off large deals).

    A single large deal in a small business would otherwise lift the trend's level for
    months; clipped, it still counts at the clip value, and the band's residuals keep the
    spread of the ordinary months.
    """
    if series.size < 3:
        return series
    median = np.median(series)
    spread = 1.4826 * np.median(np.abs(series - median))
    return np.minimum(series, median + SPIKE_MADS * spread) if spread > 0 else series


def _new_business(history: np.ndarray, horizon: int, samples: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """The point path and [sample, month] paths of new MRR, and the method used."""
    series = _tame_spikes(history[-TREND_MONTHS:])
    if series.size >= MIN_TREND_MONTHS and series.sum() > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = ExponentialSmoothing(series, trend="add", damped_trend=True,
                                          initialization_method="estimated").fit()
            point = fitted.forecast(horizon)
            paths = fitted.simulate(horizon, repetitions=samples, error="add",
                                    random_errors="bootstrap",
                                    random_state=int(rng.integers(2**31))).T
        method = "damped-trend exponential smoothing"
    else:
        recent = series[-6:] if series.size else np.zeros(1)
        point = np.full(horizon, recent.mean())
        spread = recent.std() if recent.size > 1 else 0.0
        paths = point[None, :] + rng.normal(0.0, spread, (samples, horizon))
        method = "recent mean (too little history for a trend)"
    return np.clip(point, 0.0, None), np.clip(np.asarray(paths), 0.0, None), method


@dataclass(frozen=True)
class ForecastResult:
    """A projection: the months ahead with their band and bridge, beside the actuals.

    Attributes:
        cutoff: The last month of data the forecast used.
        months: The forecast months (the cut-off's next month first).
        mrr: The point forecast of closing MRR per month (USD).
        lower, upper: The band (``BAND`` percentiles of the bootstrap samples).
        bridge: Per forecast month: opening, new, expansion, contraction, churned and
            closing MRR of the point forecast (the identity of the Gold bridge holds).
        history: Actual closing MRR per month up to the cut-off, and after it when Gold
            has those months (a back-test), as ``(month, mrr)``.
        method: How new business was projected.
    """

    cutoff: date
    months: list[date]
    mrr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    bridge: pa.Table
    history: list[tuple[date, float]]
    method: str

    def table(self) -> pa.Table:
        """Actuals and forecast in one long table for charts: month, kind, mrr, lower, upper."""
        months = [m for m, _ in self.history] + self.months
        kinds = ["actual"] * len(self.history) + ["forecast"] * len(self.months)
        values = [v for _, v in self.history] + self.mrr.tolist()
        lows = [None] * len(self.history) + self.lower.tolist()
        highs = [None] * len(self.history) + self.upper.tolist()
        return pa.table({"month_start": months, "kind": kinds, "mrr_usd": values,
                         "lower_usd": lows, "upper_usd": highs})


@dataclass(frozen=True)
class Forecast:
    """Everything estimated from Gold up to a cut-off; ``project`` applies the levers."""

    cube: _Cube
    cutoff: int
    horizon: int
    rates: _Rates  # sample 0 is the full data, 1.. the bootstrap samples
    monthly: np.ndarray  # [sample, month, flow]: the drawn month shocks (1 for sample 0)
    new_point: np.ndarray
    new_paths: np.ndarray
    new_share: np.ndarray  # [segment, tier]
    method: str

    @property
    def tiers(self) -> list[str]:
        """The tiers a price lever can name."""
        return [t for t in self.cube.tiers if t != UNKNOWN]

    def project(self, levers: Levers | None = None, horizon: int | None = None
                ) -> ForecastResult:
        """The forecast with ``levers`` applied (``horizon`` at most the fitted one)."""
        levers = levers or Levers()
        horizon = horizon or self.horizon
        if not 1 <= horizon <= self.horizon:
            raise ForecastError(f"horizon: expected 1 to {self.horizon} months, got {horizon}")
        unknown = sorted(set(levers.price_change) - set(self.cube.tiers))
        if unknown:
            raise ForecastError(f"price change for unknown tier(s) {', '.join(unknown)}; "
                                f"tiers: {', '.join(self.tiers)}")
        new = np.vstack([self.new_point[None, :horizon], self.new_paths[:, :horizon]])
        new = new * (1.0 + levers.new_mrr_growth) ** np.arange(1, horizon + 1)
        paths, bridge = _simulate(self, levers, new, horizon)
        cube, cutoff = self.cube, self.cutoff
        low, high = np.percentile(paths[1:], BAND, axis=0)
        months = [_add_months(cube.months[cutoff], h) for h in range(1, horizon + 1)]
        seen = min(len(cube.months) - 1, cube.last_complete)
        history = [(cube.months[m], float(cube.mrr[:, :, :, m].sum())) for m in range(seen + 1)]
        bridge = pa.table({"month_start": months,
                           **{k: np.round(v, 2).tolist() for k, v in bridge.items()}})
        return ForecastResult(cube.months[cutoff], months, paths[0], low, high, bridge,
                              history, self.method)


def _simulate(model: Forecast, levers: Levers, new: np.ndarray, horizon: int
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Closing MRR per sample and month, and the point forecast's bridge."""
    cube, cutoff, rates = model.cube, model.cutoff, model.rates
    n_seg, n_tier = len(cube.segments), len(cube.tiers)
    price = np.array([1.0 + levers.price_change.get(t, 0.0) for t in cube.tiers])
    churn = np.clip(rates.churn + levers.churn_change / 100.0, 0.0, 1.0)
    contraction = np.minimum(rates.contraction, 1.0 - churn)
    expansion = rates.expansion * (1.0 + levers.expansion_change)
    # The book: one group per cohort, segment and tier with MRR at the cut-off.
    book = cube.mrr[: cutoff + 1, :, :, cutoff]
    cohort, segment, tier = np.nonzero(book > 0)
    start = book[cohort, segment, tier][None, :] * np.ones((new.shape[0], 1))
    groups_mrr = start
    groups_age = cutoff - cohort
    groups_segment, groups_tier = segment, tier
    samples = new.shape[0]
    closing = np.zeros((samples, horizon))
    names = ("opening_mrr_usd", "new_mrr_usd", "expansion_mrr_usd", "contraction_mrr_usd",
             "churned_mrr_usd", "closing_mrr_usd")
    bridge = {name: np.zeros(horizon) for name in names}
    rows = np.arange(samples)[:, None]
    for h in range(horizon):
        opening = groups_mrr.sum(axis=1)
        ages = np.minimum(groups_age, churn.shape[2] - 1)
        shock = model.monthly[:, h, :]  # [sample, flow]
        rate = np.clip(churn[rows, groups_segment, ages] * shock[:, [0]], 0.0, 1.0)
        lost = groups_mrr * rate
        shrunk = groups_mrr * np.minimum(contraction[rows, groups_segment, ages]
                                         * shock[:, [1]], 1.0 - rate)
        grown = groups_mrr * expansion[rows, groups_segment, ages] * shock[:, [2]]
        groups_mrr = groups_mrr - lost - shrunk + grown
        if h == 0:  # a price change moves the staying book once, in the first month
            repriced = groups_mrr * (price[groups_tier] - 1.0)
            grown = grown + np.clip(repriced, 0.0, None)
            shrunk = shrunk - np.clip(repriced, None, 0.0)
            groups_mrr = groups_mrr + repriced
        groups_age = groups_age + 1
        # New business of the month: one new group per segment and tier, at age 0.
        arrivals = new[:, h][:, None] * (model.new_share * price[None, :]).reshape(1, -1)
        seg_idx, tier_idx = np.divmod(np.arange(n_seg * n_tier), n_tier)
        groups_mrr = np.hstack([groups_mrr, arrivals])
        groups_age = np.concatenate([groups_age, np.zeros(n_seg * n_tier, dtype=int)])
        groups_segment = np.concatenate([groups_segment, seg_idx])
        groups_tier = np.concatenate([groups_tier, tier_idx])
        closing[:, h] = groups_mrr.sum(axis=1)
        for name, value in zip(names, (opening, arrivals.sum(axis=1), grown.sum(axis=1),
                                       shrunk.sum(axis=1), lost.sum(axis=1), closing[:, h]),
                               strict=True):
            bridge[name][h] = value[0]
    return closing, bridge


def _fit(cube: _Cube, cutoff: int, horizon: int, *, samples: int, seed: int) -> Forecast:
    if cutoff < 1:
        raise ForecastError("too little history: the forecast needs at least two complete "
                            "months of MRR")
    rng = np.random.default_rng(seed)
    n_cohorts = cutoff + 1
    weights = np.zeros((samples + 1, cube.mrr.shape[0]))
    weights[0, :n_cohorts] = 1.0
    weights[1:, :n_cohorts] = rng.multinomial(n_cohorts, np.full(n_cohorts, 1.0 / n_cohorts),
                                              size=samples)
    ages = cutoff + horizon + 1
    rates = _estimate_rates(cube, cutoff, ages, weights)
    shocks = _month_shocks(cube, cutoff, rates)
    monthly = np.ones((samples + 1, horizon, 3))
    if shocks.size:  # one past month per sample, for its whole horizon (runs persist)
        drawn = rng.integers(0, shocks.shape[0], size=samples)
        monthly[1:] = shocks[drawn][:, None, :]
    new_by_month = cube.new.sum(axis=(1, 2))  # [cohort, month]: new MRR lands at age 0
    history = np.array([new_by_month[m, m] for m in range(cutoff + 1)])
    point, paths, method = _new_business(history, horizon, samples, rng)
    recent = [cube.new[m, :, :, m] for m in range(max(0, cutoff - 11), cutoff + 1)]
    mix = np.sum(recent, axis=0)
    share = mix / mix.sum() if mix.sum() > 0 else np.zeros_like(mix)
    return Forecast(cube, cutoff, horizon, rates, monthly, point, paths, share, method)


def _month_shocks(cube: _Cube, cutoff: int, rates: _Rates) -> np.ndarray:
    """[month, flow] actual churn, contraction and expansion over what the curves expect.

    One row per past month with a paying book before it: how much more (or less) each
    flow was than the point rates predict for that month's book. Each bootstrap sample
    draws one past month and applies its shocks to every month of its horizon: a business
    runs above or below its average curve for a stretch, not independently each month, so
    the band carries that persistence (drawn per month, the swings average out over a year
    and the band covered the actual far less often than its nominal 80 %).
    """
    flows = ("churned", "contraction", "expansion")
    point = (rates.churn[0], rates.contraction[0], rates.expansion[0])  # [segment, age]
    book = cube.mrr.sum(axis=2)  # [cohort, segment, month]
    shocks = []
    for month in range(1, cutoff + 1):
        cohorts = np.arange(month)
        ages = np.minimum(month - 1 - cohorts, point[0].shape[1] - 1)
        base = book[cohorts, :, month - 1]  # [cohort, segment]
        if base.sum() <= 0:
            continue
        row = []
        for name, rate in zip(flows, point, strict=True):
            expected = (base * rate[:, ages].T).sum()
            actual = getattr(cube, name)[cohorts, :, :, month].sum()
            row.append(actual / expected if expected > 0 else 1.0)
        shocks.append(row)
    return np.array(shocks)


def _cutoff_index(cube: _Cube, cutoff: date | None) -> int:
    if cutoff is None:
        return cube.last_complete
    month = month_of(cutoff)
    if month not in cube.months or cube.months.index(month) > cube.last_complete:
        last = cube.months[cube.last_complete] if cube.last_complete >= 0 else None
        raise ForecastError(f"cut-off {month:%Y-%m}: expected a complete month of Gold "
                            f"from {cube.months[0]:%Y-%m} to {last:%Y-%m}" if last else
                            "no complete month of Gold yet")
    return cube.months.index(month)


def fit_forecast(settings: Settings, filters: MetricFilters | None = None, *,
                 horizon: int = 12, cutoff: date | None = None, samples: int = SAMPLES,
                 seed: int = 7) -> Forecast:
    """Estimate the forecast from the published Gold (one query), ready for ``project``.

    Args:
        settings: The lakehouse.
        filters: The accounts to forecast (the dashboard's dimension filters); the date
            range is ignored: the forecast uses all history up to the cut-off.
        horizon: Months ahead (1 to 36).
        cutoff: The last month of data to use; default the last complete month (the as-of
            month counts when the as-of date is its last day).
        samples: Bootstrap samples behind the band.
        seed: The bootstrap's seed (the same seed gives the same band).

    Raises:
        ForecastError: A bad horizon or cut-off, or nothing to forecast.
        transform.warehouse.WarehouseNotBuiltError: Gold was never published.
    """
    if not 1 <= horizon <= 36:
        raise ForecastError(f"horizon: expected 1 to 36 months, got {horizon}")
    cube = _load_cube(settings, filters or MetricFilters())
    return _fit(cube, _cutoff_index(cube, cutoff), horizon, samples=samples, seed=seed)


def forecast_mrr(settings: Settings, horizon: int = 12, levers: Levers | None = None,
                 filters: MetricFilters | None = None) -> ForecastResult:
    """Project MRR ``horizon`` months past the last complete month, with ``levers``."""
    return fit_forecast(settings, filters, horizon=horizon).project(levers)


# Back-test ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backtest:
    """Forecasts from past cut-offs against what Gold later showed, beside two baselines.

    Attributes:
        rows: One row per cut-off and horizon: actual, forecast, band, the flat baseline
            (MRR held at the cut-off) and the linear one (a straight line through the
            last twelve months), each with its absolute percentage error.
        summary: Per horizon: forecasts compared, MAPE of the model and both baselines,
            their ratios, and how often the actual fell inside the band.
    """

    rows: pa.Table
    summary: pa.Table

    def figures(self) -> dict[int, dict[str, float]]:
        """The summary as {horizon: {column: value}}."""
        return {row.pop("horizon"): row for row in self.summary.to_pylist()}

    def readable(self) -> pa.Table:
        """The summary as text for people: months ahead, percentages, ratios."""
        rows = []
        for horizon, row in self.figures().items():
            rows.append({
                "months ahead": horizon, "forecasts": row["forecasts"],
                "MAPE model": f"{row['mape_forecast']:.1%}",
                "MAPE flat": f"{row['mape_flat']:.1%}",
                "MAPE linear": f"{row['mape_linear']:.1%}",
                "model / flat": f"{row['ratio_to_flat']:.2f}",
                "model / linear": f"{row['ratio_to_linear']:.2f}",
                "actual inside band": f"{row['band_coverage']:.0%}",
            })
        return pa.Table.from_pylist(rows)


def backtest(settings: Settings, filters: MetricFilters | None = None, *,
             horizons: Sequence[int] = (3, 6, 12), samples: int = SAMPLES, seed: int = 7,
             min_history: int = MIN_HISTORY) -> Backtest:
    """Forecast from every cut-off with ``min_history`` months before it and compare.

    Each forecast sees only the months up to its cut-off. A horizon is scored only where
    Gold has the complete month it forecast.

    Raises:
        ForecastError: Too little history for one cut-off with its shortest horizon.
    """
    cube = _load_cube(settings, filters or MetricFilters())
    longest = max(horizons)
    actual = cube.mrr.sum(axis=(0, 1, 2))
    cutoffs = range(min_history - 1, cube.last_complete - min(horizons) + 1)
    if not cutoffs:
        raise ForecastError(
            f"too little history to back-test: {cube.last_complete + 1} complete month(s); "
            f"needs {min_history} before a cut-off and {min(horizons)} after it")
    records = []
    for cutoff in cutoffs:
        result = _fit(cube, cutoff, longest, samples=samples, seed=seed).project()
        window = actual[max(0, cutoff - 11): cutoff + 1]
        slope, intercept = np.polyfit(np.arange(window.size), window, 1)
        for h in horizons:
            if cutoff + h > cube.last_complete:
                continue
            truth = float(actual[cutoff + h])
            guesses = {"forecast": float(result.mrr[h - 1]), "flat": float(actual[cutoff]),
                       "linear": float(intercept + slope * (window.size - 1 + h))}
            lower, upper = float(result.lower[h - 1]), float(result.upper[h - 1])
            record: dict[str, Any] = {"cutoff": cube.months[cutoff], "horizon": h,
                                      "actual": truth, **guesses, "lower": lower,
                                      "upper": upper}
            for name, guess in guesses.items():
                record[f"ape_{name}"] = abs(guess - truth) / truth if truth else math.nan
            record["inside_band"] = lower <= truth <= upper
            records.append(record)
    rows = pa.Table.from_pylist(records)
    summary = []
    for h in horizons:
        chosen = [r for r in records if r["horizon"] == h]
        if not chosen:
            continue
        mape = {name: float(np.nanmean([r[f"ape_{name}"] for r in chosen]))
                for name in ("forecast", "flat", "linear")}
        summary.append({
            "horizon": h, "forecasts": len(chosen),
            "mape_forecast": mape["forecast"], "mape_flat": mape["flat"],
            "mape_linear": mape["linear"],
            "ratio_to_flat": mape["forecast"] / mape["flat"] if mape["flat"] else math.nan,
            "ratio_to_linear": (mape["forecast"] / mape["linear"] if mape["linear"]
                                else math.nan),
            "band_coverage": sum(r["inside_band"] for r in chosen) / len(chosen),
        })
    return Backtest(rows, pa.Table.from_pylist(summary))
