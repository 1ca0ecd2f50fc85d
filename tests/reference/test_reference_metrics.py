"""The reference metrics (tests/reference) against hand-computed values on the kitchen sink.

Given the hand-made landing zone in ``tests/fixtures/metrics/kitchen_sink/landing`` (see
the README next to it for what each account exercises), when ``compute_reference`` runs,
then the numbers below, computed by hand from the landing files, come out, and the
docs/reference/gold-metrics.md identities hold for every month.

As-of date: 2025-03-17 (latest export folder), so months run 2024-01 .. 2025-03 and the
snapshot of March 2025 is B = 2025-03-18T00:00:00Z.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import KITCHEN_SINK, REFERENCE


def _load_reference() -> Any:
    """Import tests/reference/metrics_reference.py by path (independent of sys.path)."""
    name = "tests_reference_metrics_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REFERENCE / "metrics_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
compute_reference = ref.compute_reference

D = Decimal


def m(year: int, month: int) -> date:
    return date(year, month, 1)


@pytest.fixture(scope="module")
def gold() -> dict[str, list[dict[str, Any]]]:
    """The reference's four tables computed on the kitchen-sink landing zone."""
    return compute_reference(KITCHEN_SINK)


@pytest.fixture(scope="module")
def account_rows(gold: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, date], dict]:
    """The account facts by (account_id, month_start)."""
    return {(r["account_id"], r["month_start"]): r for r in gold["fct_account_mrr_monthly"]}


def by_month(rows: list[dict[str, Any]], key: str = "month_start") -> dict[date, dict]:
    return {r[key]: r for r in rows}


# --------------------------------------------------------------------------- shape


def test_tables_have_exactly_the_metrics_md_columns(gold):
    """Given the reference computed on the kitchen sink, when its tables are listed, then they are
    exactly the four Gold metric tables (docs/reference/gold-metrics.md), none empty, every row with
    exactly that table's columns in order."""
    expected = {
        "fct_account_mrr_monthly": [
            "account_id", "month_start", "mrr_usd", "previous_mrr_usd", "mrr_change_usd",
            "movement", "is_active", "cohort_month",
        ],
        "mrr_movements_monthly": [
            "month_start", "opening_mrr_usd", "new_mrr_usd", "expansion_mrr_usd",
            "reactivation_mrr_usd", "contraction_mrr_usd", "churned_mrr_usd",
            "closing_mrr_usd", "customers_opening", "customers_new", "customers_reactivated",
            "customers_churned", "customers_closing",
        ],
        "saas_kpis_monthly": [
            "month_start", "mrr_usd", "arr_usd", "paying_customers", "arpa_usd",
            "logo_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate", "quick_ratio",
            "nrr_12m", "grr_12m",
        ],
        "cohort_retention": [
            "cohort_month", "months_since_start", "cohort_customers", "retained_customers",
            "logo_retention_rate", "cohort_starting_mrr_usd", "cohort_mrr_usd",
            "net_mrr_retention_rate",
        ],
    }
    assert sorted(gold) == sorted(expected)
    for name, columns in expected.items():
        assert gold[name], name
        for row in gold[name]:
            assert list(row) == columns, name


def test_money_is_decimal_to_the_cent_and_counts_are_int(gold):
    """Given the reference tables, when every value's type is checked, then money is a Decimal to
    the cent (never negative except mrr_change_usd), counts are int and rates are float or
    null."""
    for name, rows in gold.items():
        for row in rows:
            for col, value in row.items():
                if col.endswith("_usd") and value is not None:
                    assert isinstance(value, Decimal), (name, col)
                    assert value.as_tuple().exponent == -2, (name, col, value)
                    if col != "mrr_change_usd":  # no negative amounts, not even -0.00
                        assert not value.is_signed(), (name, col, value)
                if col.startswith("customers_") or col in (
                    "paying_customers", "cohort_customers", "retained_customers",
                    "months_since_start",
                ):
                    assert type(value) is int, (name, col)
                if col.endswith("_rate") or col in ("quick_ratio", "nrr_12m", "grr_12m"):
                    assert value is None or type(value) is float, (name, col)


def test_months_run_from_the_first_mrr_month_through_the_as_of_month(gold):
    """Given the kitchen sink (first MRR in 2024-01, as-of date 2025-03-17), when the monthly
    tables' months are listed, then they run from 2024-01 through 2025-03 without a gap."""
    # First month with MRR > 0: 2024-01 (acc_01, acc_03, acc_07). As-of: 2025-03-17.
    expected = [date(2024 + (i // 12), i % 12 + 1, 1) for i in range(15)]
    assert [r["month_start"] for r in gold["mrr_movements_monthly"]] == expected
    assert [r["month_start"] for r in gold["saas_kpis_monthly"]] == expected
    assert max(r["month_start"] for r in gold["fct_account_mrr_monthly"]) == m(2025, 3)


def test_every_account_has_one_row_per_month_from_its_first_mrr_month(gold, account_rows):
    """Given each account's first month with MRR, by hand, when the account facts are listed, then
    every account has exactly one row per month from then on, with that month as its cohort."""
    first = {"acc_01": m(2024, 1), "acc_02": m(2024, 2), "acc_03": m(2024, 1),
             "acc_04": m(2024, 3), "acc_05": m(2024, 3), "acc_06": m(2024, 5),
             "acc_07": m(2024, 1), "acc_10": m(2024, 11)}
    months = [r["month_start"] for r in gold["mrr_movements_monthly"]]
    expected = {(a, mo) for a, start in first.items() for mo in months if mo >= start}
    assert set(account_rows) == expected
    assert len(gold["fct_account_mrr_monthly"]) == len(expected)
    for (account, _month), row in account_rows.items():
        assert row["cohort_month"] == first[account]


def test_accounts_without_month_end_mrr_appear_nowhere(account_rows):
    """Given acc_08 (a trial that lapses) and acc_09 (active for part of one month), when the
    account facts are listed, then neither appears: neither had MRR at a month end."""
    # acc_08: trial 2024-06-20 .. lapses 2024-07-04 (trialing at the June snapshot).
    # acc_09: active 2024-07-03, canceled 2024-07-21: no month-end MRR ever.
    accounts = {a for a, _ in account_rows}
    assert "acc_08" not in accounts
    assert "acc_09" not in accounts


# --------------------------------------------------------------------------- account MRR

ACCOUNT_MRR = [
    # acc_01: starter_m_usd 2900/seat/month, 2 seats, 20 % off
    ("acc_01", m(2024, 1), "46.40"),   # 2 * 2900 * (1 - 20/100) / 100 = 46.40
    # upgraded to growth_m_usd on 2024-04-15 (mid-month): 2 * 4900 * 0.8 / 100 = 78.40
    ("acc_01", m(2024, 4), "78.40"),
    # seat change to 5 on 2024-06-18: 5 * 4900 * 0.8 / 100 = 196.00
    ("acc_01", m(2024, 6), "196.00"),
    # downgraded to starter_m_usd on 2024-09-20: 5 * 2900 * 0.8 / 100 = 116.00
    ("acc_01", m(2024, 9), "116.00"),
    # 2025-03-17T08:00Z in part-0001 (25 % off) and part-0002 (30 % off): part-0002 wins
    # 5 * 2900 * (1 - 30/100) / 100 = 101.50
    ("acc_01", m(2025, 3), "101.50"),
    # acc_02: growth_y_gbp 39000/seat/year, 3 seats, trial converted 2024-02-03:
    # 3 * 39000 / 100 / 12 = 97.50 GBP * 1.2650 (gbp 2024-02-01 <= 2024-02-03)
    # = 123.3375 -> 123.34 (rated at conversion; at trial start 1.2700 would give 123.83)
    ("acc_02", m(2024, 2), "123.34"),
    # annual renewal 2025-02-03 keeps the terms date: still 97.50 * 1.2650
    ("acc_02", m(2025, 2), "123.34"),
    # acc_03: scale_q_eur 27000 per 3 months: 27000 / 100 / 3 = 90.00 EUR
    # * 1.0950 (eur 2024-01-01 <= terms 2024-01-05) = 98.55
    ("acc_03", m(2024, 1), "98.55"),
    # past_due at the April snapshot still counts, and does not move the terms date
    ("acc_03", m(2024, 4), "98.55"),
    # unpaid at the July snapshot: nothing
    ("acc_03", m(2024, 7), "0.00"),
    # paid again 2024-10-02: new terms date, 90.00 * 1.1150 (eur 2024-10-01) = 100.35
    ("acc_03", m(2024, 10), "100.35"),
    # acc_04: growth_m_eur 4500/seat, 2 seats from 2024-03-12:
    # 2 * 4500 / 100 = 90.00 EUR * 1.0850 (eur 2024-03-01) = 97.65
    ("acc_04", m(2024, 3), "97.65"),
    # 3 seats from 2024-06-10; eur 2024-06-10 was 1.0800, corrected to 1.0750 by the
    # 2025-03-15 export: 3 * 45.00 * 1.0750 = 145.125 -> 145.13 (half up, not to even)
    ("acc_04", m(2024, 6), "145.13"),
    # the EUR rate moved (1.0350 on 2025-01-01) but the terms did not: same MRR
    ("acc_04", m(2025, 1), "145.13"),
    # acc_05: scale_y_gbp 120000/year: 120000 / 100 / 12 = 100.00 GBP * 1.2600 = 126.00
    ("acc_05", m(2024, 3), "126.00"),
    # scheduled cancellation, ended_at 2025-03-01T00:00Z >= B(Feb) = 2025-03-01T00:00Z
    ("acc_05", m(2025, 2), "126.00"),
    ("acc_05", m(2025, 3), "0.00"),
    # acc_06: starter_m_usd 3 seats: 3 * 2900 / 100 = 87.00
    ("acc_06", m(2024, 5), "87.00"),
    # + enterprise_m_usd 1 seat from 2024-08-20: 87.00 + 19900 / 100 = 286.00
    ("acc_06", m(2024, 8), "286.00"),
    # starter sub ended 2024-11-06 (scheduled): 199.00
    ("acc_06", m(2024, 11), "199.00"),
    # enterprise sub scheduled to end 2025-03-20 >= B(as-of) = 2025-03-18: still counts
    ("acc_06", m(2025, 3), "199.00"),
    # acc_07: growth_m_usd 1 seat = 49.00, canceled immediately 2024-05-09
    ("acc_07", m(2024, 4), "49.00"),
    ("acc_07", m(2024, 5), "0.00"),
    # back 2024-09 with two starter_y_usd subs: 2 * (29000 / 100 / 12) = 2 * 24.1666...
    # = 48.3333... -> 48.33 (exact sum then round; per-sub rounding would give 48.34)
    ("acc_07", m(2024, 9), "48.33"),
    # acc_10: growth_y_usd 49000/seat/year; 2024-11-05T10:00Z delivered with 4 seats
    # (export 2025-03-14) and 6 seats (export 2025-03-15): the later export wins
    # 6 * 49000 / 100 / 12 = 245.00
    ("acc_10", m(2024, 11), "245.00"),
    # 2025-03-16T09:00Z twice in one file, 7 then 8 seats: the later line wins
    # 8 * 49000 / 100 / 12 = 326.666... -> 326.67
    ("acc_10", m(2025, 3), "326.67"),
]


@pytest.mark.parametrize(("account", "month", "expected"), ACCOUNT_MRR)
def test_account_mrr_is_hand_computed(account_rows, account, month, expected):
    """Given an account and month of ACCOUNT_MRR and its MRR computed by hand from the landing
    files, when the account facts are computed, then its mrr_usd is that amount to the cent."""
    assert account_rows[(account, month)]["mrr_usd"] == D(expected)


def test_first_row_of_an_account_has_zero_previous_mrr(account_rows):
    """Given acc_02, trialing in January 2024 and converted in February, when its account facts are
    read, then its first row is February's, a new movement from zero previous MRR, and there is no
    January row."""
    row = account_rows[("acc_02", m(2024, 2))]  # trialing in January: first row is Feb
    assert row["previous_mrr_usd"] == D("0.00")
    assert row["mrr_change_usd"] == D("123.34")
    assert row["movement"] == "new"
    assert row["is_active"] is True
    assert ("acc_02", m(2024, 1)) not in account_rows


MOVEMENTS = [
    ("acc_01", m(2024, 1), "new", "0.00", "46.40"),
    ("acc_06", m(2024, 8), "expansion", "87.00", "286.00"),     # second subscription
    ("acc_01", m(2024, 4), "expansion", "46.40", "78.40"),      # mid-month upgrade
    ("acc_06", m(2024, 11), "contraction", "286.00", "199.00"),  # dropped one sub
    ("acc_01", m(2024, 9), "contraction", "196.00", "116.00"),  # downgrade
    ("acc_07", m(2024, 5), "churn", "49.00", "0.00"),           # immediate cancellation
    ("acc_03", m(2024, 7), "churn", "98.55", "0.00"),           # unpaid
    ("acc_05", m(2025, 3), "churn", "126.00", "0.00"),          # scheduled cancellation
    ("acc_07", m(2024, 9), "reactivation", "0.00", "48.33"),
    ("acc_03", m(2024, 10), "reactivation", "0.00", "100.35"),
    ("acc_04", m(2025, 1), "unchanged", "145.13", "145.13"),    # fx moved, terms did not
    ("acc_03", m(2024, 4), "unchanged", "98.55", "98.55"),      # past_due
    ("acc_07", m(2024, 6), "inactive", "0.00", "0.00"),
]


@pytest.mark.parametrize("case", MOVEMENTS, ids=lambda c: f"{c[2]}-{c[0]}-{c[1]:%Y-%m}")
def test_each_movement_type(account_rows, case):
    """Given an account and month of MOVEMENTS with its movement classified by hand, when its
    account-fact row is read, then the movement, previous and current MRR, the change and is_active
    are as classified."""
    account, month, movement, prev, cur = case
    row = account_rows[(account, month)]
    assert row["movement"] == movement
    assert row["previous_mrr_usd"] == D(prev)
    assert row["mrr_usd"] == D(cur)
    assert row["mrr_change_usd"] == D(cur) - D(prev)
    assert row["is_active"] is (D(cur) > 0)


# --------------------------------------------------------------------------- movements


def test_full_movement_row_september_2024(gold):
    """Given August 2024's closing MRR and September's changes, by hand, when September's movement
    row is read, then every column equals the hand-computed bridge."""
    # Aug closing: acc_01 196.00 + acc_02 123.34 + acc_04 145.13 + acc_05 126.00
    #              + acc_06 286.00 = 876.47 (5 customers)
    # Sep: acc_01 contraction 196.00 -> 116.00 (80.00); acc_07 reactivation 48.33
    # closing = 876.47 - 80.00 + 48.33 = 844.80 (6 customers)
    assert by_month(gold["mrr_movements_monthly"])[m(2024, 9)] == {
        "month_start": m(2024, 9),
        "opening_mrr_usd": D("876.47"),
        "new_mrr_usd": D("0.00"),
        "expansion_mrr_usd": D("0.00"),
        "reactivation_mrr_usd": D("48.33"),
        "contraction_mrr_usd": D("80.00"),
        "churned_mrr_usd": D("0.00"),
        "closing_mrr_usd": D("844.80"),
        "customers_opening": 5,
        "customers_new": 0,
        "customers_reactivated": 1,
        "customers_churned": 0,
        "customers_closing": 6,
    }


def test_full_movement_row_march_2025_the_partial_as_of_month(gold):
    """Given February 2025's closing MRR and March's changes up to the as-of date, by hand, when
    March's movement row is read, then every column equals the hand-computed bridge of the partial
    month."""
    # Feb closing: 116.00 + 123.34 + 100.35 + 145.13 + 126.00 + 199.00 + 48.33 + 245.00
    #            = 1103.15 (8 customers)
    # Mar: acc_10 expansion 245.00 -> 326.67 (81.67); acc_01 contraction 116.00 -> 101.50
    #      (14.50); acc_05 churn 126.00; acc_06 still 199.00 (ends 2025-03-20)
    # closing = 1103.15 + 81.67 - 14.50 - 126.00 = 1044.32 (7 customers)
    assert by_month(gold["mrr_movements_monthly"])[m(2025, 3)] == {
        "month_start": m(2025, 3),
        "opening_mrr_usd": D("1103.15"),
        "new_mrr_usd": D("0.00"),
        "expansion_mrr_usd": D("81.67"),
        "reactivation_mrr_usd": D("0.00"),
        "contraction_mrr_usd": D("14.50"),
        "churned_mrr_usd": D("126.00"),
        "closing_mrr_usd": D("1044.32"),
        "customers_opening": 8,
        "customers_new": 0,
        "customers_reactivated": 0,
        "customers_churned": 1,
        "customers_closing": 7,
    }


def test_first_month_row(gold):
    """Given the three accounts new in January 2024, when the first movement row is read, then it
    opens at zero and closes at their new MRR with three customers."""
    # 2024-01: new acc_01 46.40 + acc_03 98.55 + acc_07 49.00 = 193.95
    row = gold["mrr_movements_monthly"][0]
    assert row["month_start"] == m(2024, 1)
    assert row["opening_mrr_usd"] == D("0.00")
    assert row["new_mrr_usd"] == D("193.95")
    assert row["closing_mrr_usd"] == D("193.95")
    assert (row["customers_opening"], row["customers_new"], row["customers_closing"]) == (
        0, 3, 3,
    )


# --------------------------------------------------------------------------- KPIs


def test_kpis_march_2025(gold):
    """Given March 2025's movements, when its KPI row is read, then MRR, ARR, paying customers,
    ARPA, the churn rates and the quick ratio equal the hand-computed values."""
    row = by_month(gold["saas_kpis_monthly"])[m(2025, 3)]
    assert row["mrr_usd"] == D("1044.32")
    assert row["arr_usd"] == D("12531.84")                  # 12 * 1044.32
    assert row["paying_customers"] == 7
    assert row["arpa_usd"] == D("149.19")                   # 1044.32 / 7 = 149.1885...
    assert row["logo_churn_rate"] == pytest.approx(1 / 8)   # 1 churned / 8 opening
    # (churned 126.00 + contraction 14.50) / opening 1103.15
    assert row["gross_mrr_churn_rate"] == pytest.approx(140.50 / 1103.15, rel=1e-12)
    # (126.00 + 14.50 - expansion 81.67 - reactivation 0) / 1103.15 = 58.83 / 1103.15
    assert row["net_mrr_churn_rate"] == pytest.approx(58.83 / 1103.15, rel=1e-12)
    # (new 0 + expansion 81.67 + reactivation 0) / (126.00 + 14.50)
    assert row["quick_ratio"] == pytest.approx(81.67 / 140.50, rel=1e-12)


def test_kpi_ratios_with_zero_denominator_are_null(gold):
    """Given months with a zero denominator (no opening MRR, or nothing lost), when their KPI rows
    are read, then those ratios are null while the others are computed, 0.0 where only the numerator
    is zero."""
    kpis = by_month(gold["saas_kpis_monthly"])
    first = kpis[m(2024, 1)]  # opening is 0: churn rates are null
    assert first["logo_churn_rate"] is None
    assert first["gross_mrr_churn_rate"] is None
    assert first["net_mrr_churn_rate"] is None
    assert first["quick_ratio"] is None  # nothing lost
    assert first["arpa_usd"] == D("64.65")  # 193.95 / 3 = 64.65
    # 2024-12: nothing gained or lost -> quick ratio null; churn rates 0.0
    assert kpis[m(2024, 12)]["quick_ratio"] is None
    assert kpis[m(2024, 12)]["logo_churn_rate"] == 0.0
    # 2024-07: only a churn -> quick ratio 0 / 98.55 = 0.0
    assert kpis[m(2024, 7)]["quick_ratio"] == 0.0


def test_nrr_and_grr_12m(gold):
    """Given the payers of twelve months before, when the KPI rows are read, then nrr_12m and
    grr_12m equal the hand-computed ratios, and are null before a year of history."""
    kpis = by_month(gold["saas_kpis_monthly"])
    # M-12 before the first month (2024-01): null
    assert kpis[m(2024, 12)]["nrr_12m"] is None
    assert kpis[m(2024, 12)]["grr_12m"] is None
    # 2025-01 over the 2024-01 payers: acc_01 46.40, acc_03 98.55, acc_07 49.00 = 193.95
    # now: acc_01 116.00 + acc_03 100.35 + acc_07 48.33 = 264.68
    # capped: 46.40 + 98.55 + 48.33 = 193.28
    assert kpis[m(2025, 1)]["nrr_12m"] == pytest.approx(264.68 / 193.95, rel=1e-12)
    assert kpis[m(2025, 1)]["grr_12m"] == pytest.approx(193.28 / 193.95, rel=1e-12)
    # 2025-03 over the 2024-03 payers: acc_01 46.40, acc_02 123.34, acc_03 98.55,
    # acc_04 97.65, acc_05 126.00, acc_07 49.00 = 540.94
    # now: 101.50 + 123.34 + 100.35 + 145.13 + 0.00 + 48.33 = 518.65
    # capped: 46.40 + 123.34 + 98.55 + 97.65 + 0.00 + 48.33 = 414.27
    assert kpis[m(2025, 3)]["nrr_12m"] == pytest.approx(518.65 / 540.94, rel=1e-12)
    assert kpis[m(2025, 3)]["grr_12m"] == pytest.approx(414.27 / 540.94, rel=1e-12)


# --------------------------------------------------------------------------- cohorts


def test_cohort_rows(gold):
    """Given the cohorts by first MRR month, when the cohort retention rows are read, then there is
    one per cohort and month since its start, and sample rows equal the hand-computed retention."""
    rows = {(r["cohort_month"], r["months_since_start"]): r for r in gold["cohort_retention"]}
    # cohorts 2024-01 (3 accounts, 15 months), 2024-02 (1, 14), 2024-03 (2, 13),
    # 2024-05 (1, 11), 2024-11 (1, 5)
    assert len(rows) == 15 + 14 + 13 + 11 + 5
    # 2024-01 cohort (acc_01, acc_03, acc_07) at k = 14 (2025-03):
    # start 46.40 + 98.55 + 49.00 = 193.95; now 101.50 + 100.35 + 48.33 = 250.18
    assert rows[(m(2024, 1), 14)] == {
        "cohort_month": m(2024, 1),
        "months_since_start": 14,
        "cohort_customers": 3,
        "retained_customers": 3,
        "logo_retention_rate": 1.0,
        "cohort_starting_mrr_usd": D("193.95"),
        "cohort_mrr_usd": D("250.18"),
        "net_mrr_retention_rate": pytest.approx(250.18 / 193.95, rel=1e-12),
    }
    # k = 6 (2024-07): only acc_01 pays (196.00); acc_03 unpaid, acc_07 churned
    k6 = rows[(m(2024, 1), 6)]
    assert k6["retained_customers"] == 1
    assert k6["logo_retention_rate"] == pytest.approx(1 / 3)
    assert k6["cohort_mrr_usd"] == D("196.00")
    assert k6["net_mrr_retention_rate"] == pytest.approx(196.00 / 193.95, rel=1e-12)
    # 2024-03 cohort (acc_04 97.65, acc_05 126.00 = 223.65) at k = 12 (2025-03):
    # acc_04 145.13, acc_05 churned -> 1 of 2 retained
    k12 = rows[(m(2024, 3), 12)]
    assert (k12["cohort_customers"], k12["retained_customers"]) == (2, 1)
    assert k12["logo_retention_rate"] == 0.5
    assert k12["cohort_starting_mrr_usd"] == D("223.65")
    assert k12["cohort_mrr_usd"] == D("145.13")


# --------------------------------------------------------------------------- invariants


def test_movement_identities_hold_every_month(gold):
    """Given every movement row, when consecutive months are compared, then closing = opening +
    gains - losses (MRR and customers), no movement is negative, and each month opens at the
    previous close, the first at zero."""
    movements = gold["mrr_movements_monthly"]
    previous = None
    for row in movements:
        assert row["closing_mrr_usd"] == (
            row["opening_mrr_usd"] + row["new_mrr_usd"] + row["expansion_mrr_usd"]
            + row["reactivation_mrr_usd"] - row["contraction_mrr_usd"]
            - row["churned_mrr_usd"]
        ), row["month_start"]
        assert row["customers_closing"] == (
            row["customers_opening"] + row["customers_new"] + row["customers_reactivated"]
            - row["customers_churned"]
        ), row["month_start"]
        for col in ("new_mrr_usd", "expansion_mrr_usd", "reactivation_mrr_usd",
                    "contraction_mrr_usd", "churned_mrr_usd"):
            assert row[col] >= 0, (row["month_start"], col)
        if previous is None:
            assert row["opening_mrr_usd"] == 0
            assert row["customers_opening"] == 0
        else:
            assert row["opening_mrr_usd"] == previous["closing_mrr_usd"]
            assert row["customers_opening"] == previous["customers_closing"]
        previous = row


def test_account_mrr_sums_to_closing_and_kpis_agree(gold):
    """Given every month, when account facts, movements and KPIs are compared, then account MRR and
    active accounts sum to the closing MRR and customers, and the KPIs' MRR, ARR and paying
    customers agree."""
    kpis = by_month(gold["saas_kpis_monthly"])
    for row in gold["mrr_movements_monthly"]:
        month = row["month_start"]
        accounts = [r for r in gold["fct_account_mrr_monthly"] if r["month_start"] == month]
        assert sum(r["mrr_usd"] for r in accounts) == row["closing_mrr_usd"]
        assert sum(1 for r in accounts if r["is_active"]) == row["customers_closing"]
        assert kpis[month]["mrr_usd"] == row["closing_mrr_usd"]
        assert kpis[month]["arr_usd"] == 12 * row["closing_mrr_usd"]
        assert kpis[month]["paying_customers"] == row["customers_closing"]


def test_cohorts_and_rates_are_consistent(gold):
    """Given the reference tables, when cohorts and rates are cross-checked, then cohort sizes add
    up to the 8 new accounts, retention stays within [0, 1], and grr_12m exists for the last three
    months only, within [0, 1]."""
    new_accounts = [r for r in gold["fct_account_mrr_monthly"] if r["movement"] == "new"]
    cohort_sizes = [r for r in gold["cohort_retention"] if r["months_since_start"] == 0]
    assert sum(r["cohort_customers"] for r in cohort_sizes) == len(new_accounts) == 8
    assert sum(r["customers_new"] for r in gold["mrr_movements_monthly"]) == 8
    for r in gold["cohort_retention"]:
        assert 0 <= r["logo_retention_rate"] <= 1
        assert r["retained_customers"] <= r["cohort_customers"]
    grr = [r["grr_12m"] for r in gold["saas_kpis_monthly"] if r["grr_12m"] is not None]
    assert len(grr) == 3  # 2025-01, 2025-02, 2025-03
    for value in grr:
        assert 0 <= value <= 1


# --------------------------------------------------------------------------- as-of date


def _copy_fixture(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(KITCHEN_SINK, landing)
    return landing


def test_a_later_empty_batch_moves_the_as_of_date(tmp_path):
    """Given the kitchen sink plus an empty accounts batch exported 2025-03-21, when the reference
    is computed, then the as-of date moves with it and acc_06's subscription ending 2025-03-20 no
    longer counts in March."""
    # Given an empty accounts batch exported 2025-03-21: as-of 2025-03-21, B = 2025-03-22,
    # so acc_06's enterprise sub (ended_at 2025-03-20) no longer counts in March.
    landing = _copy_fixture(tmp_path)
    folder = landing / "app" / "accounts" / "2025-03-21"
    folder.mkdir()
    (folder / "part-0001.csv").write_text(
        "account_id,account_name,country_code,segment,industry,acquisition_channel,"
        "created_at,updated_at\n"
    )
    # When the reference is computed
    rows = compute_reference(landing)["fct_account_mrr_monthly"]
    # Then acc_06 churns in March
    march = {r["account_id"]: r for r in rows if r["month_start"] == m(2025, 3)}
    assert march["acc_06"]["mrr_usd"] == D("0.00")
    assert march["acc_06"]["movement"] == "churn"


def test_a_repeated_batch_does_not_move_the_as_of_date(tmp_path):
    """Given the kitchen sink plus a byte-identical copy of an fx file delivered on 2025-03-21, when
    the reference is computed, then the copy is the same batch, the as-of date stays, and acc_06
    keeps its March MRR."""
    # Given the same bytes as an earlier batch, delivered again on 2025-03-21 (one batch)
    landing = _copy_fixture(tmp_path)
    folder = landing / "billing" / "fx_rates" / "2025-03-21"
    folder.mkdir()
    shutil.copy(landing / "billing" / "fx_rates" / "2025-03-17" / "part-0001.csv",
                folder / "part-0009.csv")
    # When the reference is computed
    rows = compute_reference(landing)["fct_account_mrr_monthly"]
    # Then the as-of date did not move: acc_06 still counts in March
    march = {r["account_id"]: r for r in rows if r["month_start"] == m(2025, 3)}
    assert march["acc_06"]["mrr_usd"] == D("199.00")


# --------------------------------------------------------------------------- failures


def _subscription(sub_id: str, plan_id: str, status: str, at: str) -> dict[str, Any]:
    return {
        "subscription_id": sub_id, "account_id": "acc_99", "plan_id": plan_id,
        "quantity": 1, "status": status, "trial_start": None, "trial_end": None,
        "started_at": at, "current_period_start": at, "current_period_end": at,
        "cancel_at_period_end": False, "canceled_at": None, "ended_at": None,
        "discount_percent": 0, "created_at": at, "updated_at": at,
    }


def _add_subscriptions(landing: Path, *subs: dict[str, Any]) -> None:
    path = landing / "billing" / "subscriptions" / "2025-03-17" / "part-0003.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in subs))


def test_an_unknown_plan_on_a_counting_version_raises(tmp_path):
    """Given an active subscription on a plan nobody delivered, when the reference is computed, then
    it raises naming the subscription and the unknown plan."""
    # Given an active subscription on a plan nobody delivered
    landing = _copy_fixture(tmp_path)
    _add_subscriptions(landing, _subscription("sub_99", "ghost_plan", "active",
                                              "2025-01-10T00:00:00Z"))
    # When the reference is computed, then it raises naming the subscription and the plan
    with pytest.raises(ValueError, match=r"sub_99.*plan 'ghost_plan' is unknown"):
        compute_reference(landing)


def test_an_unknown_plan_on_a_trial_does_not_raise(tmp_path):
    """Given a trialing subscription on a plan nobody delivered, when the reference is computed,
    then it does not raise (only versions that count for MRR are priced) and the account has no
    rows."""
    # Only versions that count for MRR are priced (and so checked).
    # Given a trialing subscription on a plan nobody delivered
    landing = _copy_fixture(tmp_path)
    _add_subscriptions(landing, _subscription("sub_99", "ghost_plan", "trialing",
                                              "2025-01-10T00:00:00Z"))
    # When the reference is computed
    rows = compute_reference(landing)["fct_account_mrr_monthly"]
    # Then it does not raise, and the account never has MRR
    assert "acc_99" not in {r["account_id"] for r in rows}


def test_a_currency_without_a_rate_on_or_before_the_terms_date_raises(tmp_path):
    """Given an active EUR subscription whose terms date precedes the first EUR rate, when the
    reference is computed, then it raises naming the subscription, the currency and the date."""
    # Given an active EUR subscription with terms date 2023-12-15: the first EUR rate is
    # 2024-01-01, so there is none on or before it.
    landing = _copy_fixture(tmp_path)
    _add_subscriptions(landing, _subscription("sub_99", "growth_m_eur", "active",
                                              "2023-12-15T00:00:00Z"))
    # When the reference is computed, then it raises naming the subscription, currency, date
    with pytest.raises(ValueError, match=r"sub_99.*'eur'.*no fx rate.*2023-12-15"):
        compute_reference(landing)


def test_runs_fast_on_the_fixture():
    """Given the kitchen-sink landing zone, when the reference is computed, then it takes under 2
    seconds."""
    # When the reference is computed on the kitchen sink
    start = time.perf_counter()
    compute_reference(KITCHEN_SINK)
    # Then it took under 2 seconds
    assert time.perf_counter() - start < 2
