"""The simulator writes the landing contract exactly, deterministically and at scale.

The checks here are written against docs/reference/landing-contract.md / ``ingestion.contract`` with
plain Python (csv, json, re), independent of the simulator's own rendering code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.contract import ENTITIES, MAX_QUANTITY, Entity
from ingestion.simulator import SimulationSummary, default_period, simulate

START = date(2025, 1, 1)
END = date(2025, 6, 30)
DAILY = 20
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
INT_RE = re.compile(r"^-?\d+$")
PATH_RE = re.compile(r"^(billing|app)/([a-z_]+)/(\d{4}-\d{2}-\d{2})/part-(\d{4})\.(csv|jsonl)$")


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ts(value: str) -> datetime:
    assert TS_RE.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _read_rows(path: Path, ent: Entity) -> list[dict[str, object]]:
    """Parse one landing file strictly into dicts (CSV: text values, '' = null)."""
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    if ent.format == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        assert header == list(ent.column_names), path
        rows = []
        for rec in reader:
            assert len(rec) == len(header), (path, rec)
            rows.append({k: (v if v != "" else None) for k, v in zip(header, rec, strict=True)})
        return rows
    rows = []
    for line in text.split("\n")[:-1]:
        obj = json.loads(line)
        assert list(obj) == list(ent.column_names), (path, list(obj))
        rows.append(obj)
    assert text.endswith("\n")
    return rows


def _check_value(ent: Entity, name: str, value: object) -> None:
    """Assert one value follows its column's contract rule."""
    col = ent.column(name)
    if value is None:
        assert not col.required, (ent.qualified, name)
        return
    csv_mode = ent.format == "csv"
    if col.type == "string":
        assert isinstance(value, str)
        assert value.strip(), (ent.qualified, name)
    elif col.type == "int":
        if csv_mode:
            assert isinstance(value, str)
            assert INT_RE.match(value), (name, value)
            value = int(value)
        assert isinstance(value, int)
        assert not isinstance(value, bool)
    elif col.type in ("number", "decimal"):
        value = float(value) if csv_mode else value
        assert isinstance(value, (int, float))
    elif col.type == "bool":
        assert value in (("true", "false") if csv_mode else (True, False)), (name, value)
    elif col.type == "timestamp":
        assert isinstance(value, str)
        stamp = _ts(value)
        assert datetime(2000, 1, 1, tzinfo=stamp.tzinfo) <= stamp
    elif col.type == "date":
        assert isinstance(value, str)
        date.fromisoformat(value)
    elif col.type == "json":
        assert isinstance(value, (dict, list))
    if col.enum:
        assert value in col.enum, (ent.qualified, name, value)
    if col.min_value is not None and col.type in ("int", "number", "decimal"):
        assert float(value) >= col.min_value, (name, value)  # type: ignore[arg-type]
    if col.max_value is not None and col.type in ("int", "number", "decimal"):
        assert float(value) <= col.max_value, (name, value)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """The default period simulated at scale 0.02 without dirty rows: (root, summary)."""
    root = tmp_path_factory.mktemp("clean")
    summary = simulate(root, scale=0.02, seed=7)
    return root, summary


@pytest.fixture(scope="module")
def loaded(clean: tuple[Path, SimulationSummary]) -> dict[str, list[tuple[date, dict]]]:
    """Every row of every file, with its export date, validated per value on the way."""
    root, _summary = clean
    out: dict[str, list[tuple[date, dict]]] = defaultdict(list)
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        m = PATH_RE.match(rel)
        assert m, rel
        ent = ENTITIES[f"{m.group(1)}/{m.group(2)}"]
        assert m.group(5) == ent.format
        export = date.fromisoformat(m.group(3))
        for row in _read_rows(path, ent):
            for name in ent.column_names:
                _check_value(ent, name, row[name])
            out[ent.qualified].append((export, row))
    return out


# --- determinism -----------------------------------------------------------------------

def test_same_arguments_give_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    """Given the same arguments with seed 3 twice and seed 4 once, when the simulator writes three
    landing zones, then seed 3 gives byte-identical files and summaries (bytes as on disk) and seed
    4 gives other files and row counts."""
    # Given the same arguments, with seed 3 twice and seed 4 once
    kwargs = {"scale": 0.02, "start": START, "end": END, "daily_days": DAILY}
    # When the simulator writes three landing zones
    a = simulate(tmp_path / "a", seed=3, **kwargs)
    b = simulate(tmp_path / "b", seed=3, **kwargs)
    c = simulate(tmp_path / "c", seed=4, **kwargs)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    # Then the same seed gives identical files and summaries, the other seed differs
    assert len(ha) == a.files > DAILY
    assert ha == hb
    assert a.rows == b.rows
    assert a.bytes == b.bytes == sum((tmp_path / "a" / p).stat().st_size for p in ha)
    assert ha != hc
    assert c.rows != a.rows


def test_default_period_is_two_fixed_years() -> None:
    """Given no dates, when the default period is asked for, then it ends on 2025-12-31 and
    starts 730 days earlier."""
    start, end = default_period()
    assert end == date(2025, 12, 31)
    assert (end - start).days == 730


# --- layout and conformance ------------------------------------------------------------

def test_layout_backfill_then_daily_exports(clean: tuple[Path, SimulationSummary]) -> None:
    """Given the clean simulation of the default period, when its export dates and files are listed,
    then one backfill export comes first followed by 60 daily ones, large backfills are split into
    monthly parts, fx rates come every day, and no row is dirty."""
    # Given the clean simulation of the default period
    root, summary = clean
    _start, end = default_period()
    first_daily = end - timedelta(days=59)
    backfill = first_daily - timedelta(days=1)
    # Then one backfill export comes first, then 60 daily exports through the period's end
    assert summary.export_dates[0] == backfill
    assert summary.export_dates[-1] == end
    assert set(summary.export_dates) == {backfill + timedelta(days=i) for i in range(61)}
    # And large backfills are split into monthly parts; fx has a file every day.
    parts = sorted((root / "app/events" / backfill.isoformat()).iterdir())
    assert [p.name for p in parts[:3]] == ["part-0001.jsonl", "part-0002.jsonl", "part-0003.jsonl"]
    assert len(parts) >= 20
    fx_days = {p.name for p in (root / "billing/fx_rates").iterdir()}
    assert len(fx_days) == 61
    assert len(list(root.rglob("*.*"))) == summary.files
    assert summary.bad_rows == dict.fromkeys(ENTITIES, 0)


def test_every_file_conforms_to_the_contract(
    loaded: dict[str, list[tuple[date, dict]]], clean: tuple[Path, SimulationSummary]
) -> None:
    """Given every file of the clean simulation parsed strictly and each value checked against its
    column's contract rule (the loaded fixture), when rows are counted per entity, then every entity
    has rows, as many as the summary says, and accounts and events come at volume."""
    _root, summary = clean
    assert set(loaded) == set(ENTITIES)
    for name, rows in loaded.items():
        assert len(rows) == summary.rows[name] > 0, name
    assert summary.rows["app/accounts"] >= 150
    assert summary.rows["app/events"] >= 10_000


def test_nothing_in_an_export_is_after_its_day(loaded: dict[str, list[tuple[date, dict]]]) -> None:
    """Given every simulated row with its export date, when its time columns are compared with the
    end of that day, then none is later (an fx rate date is on or before it)."""
    for name, rows in loaded.items():
        ent = ENTITIES[name]
        for export, row in rows:
            limit = datetime.combine(export + timedelta(days=1), datetime.min.time())
            if ent.time_column == "rate_date":
                assert date.fromisoformat(row["rate_date"]) <= export
                continue
            moment = _ts(row[ent.time_column]).replace(tzinfo=None)
            assert moment < limit, (name, export, row)
            for col in ("created_at", "paid_at", "started_at", "trial_start", "canceled_at"):
                if col in row and row[col] is not None:
                    assert _ts(row[col]).replace(tzinfo=None) < limit, (name, col, row)


def test_referential_integrity_and_version_order(
    loaded: dict[str, list[tuple[date, dict]]],
) -> None:
    """Given the simulated accounts, plans and users, when subscriptions, invoices and events are
    checked against them, then every reference resolves, each subscription's versions are in time
    order, and invoice lines and totals add up."""
    # Given the simulated accounts, plans and users
    accounts = {r["account_id"] for _e, r in loaded["app/accounts"]}
    plans = {r["plan_id"] for _e, r in loaded["billing/plans"]}
    users = {r["user_id"]: r["account_id"] for _e, r in loaded["app/users"]}
    subs = loaded["billing/subscriptions"]
    # Then every subscription version names a known account and plan
    versions: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for export, r in subs:
        assert r["account_id"] in accounts
        assert r["plan_id"] in plans
        versions[r["subscription_id"]].append((r["updated_at"], export))
    # And each subscription's versions, in export order, have strictly increasing updated_at
    for sid, vs in versions.items():
        stamps = [v[0] for v in sorted(vs, key=lambda v: (v[1], v[0]))]
        assert stamps == sorted(stamps), sid
        assert len(set(stamps)) == len(stamps), sid
    # And invoices name known subscriptions and accounts, and their amounts add up
    sub_ids = set(versions)
    for _e, r in loaded["billing/invoices"]:
        assert r["subscription_id"] in sub_ids
        assert r["account_id"] in accounts
        assert sum(line["amount_minor"] for line in r["lines"]) == r["subtotal_minor"]
        assert r["total_minor"] == r["subtotal_minor"] - r["discount_minor"] + r["tax_minor"]
        assert all(line["plan_id"] in plans for line in r["lines"])
        if r["status"] == "paid":
            assert r["amount_paid_minor"] == r["total_minor"]
            assert r["paid_at"] is not None
    # And every event's user belongs to the event's account
    for _e, r in loaded["app/events"]:
        assert r["account_id"] in accounts
        assert users[r["user_id"]] == r["account_id"]


def test_business_story_is_all_there(loaded: dict[str, list[tuple[date, dict]]]) -> None:
    """Given every simulated row, when the subscription histories, plans, invoices and users are
    summarised, then the whole SaaS story is there: trial conversions and lapses, upgrades,
    scheduled cancellations, dunning, discounts, three currencies, annual and multi-month plans,
    refunds, prorations, every role and deleted users."""
    # When each subscription's versions are read in time order
    subs = [r for _e, r in loaded["billing/subscriptions"]]
    by_sub: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(subs, key=lambda r: r["updated_at"]):
        by_sub[r["subscription_id"]].append(r)
    converted = lapsed = upgrades = 0
    for vs in by_sub.values():
        statuses = [v["status"] for v in vs]
        if statuses[0] == "trialing" and "active" in statuses[1:]:
            converted += 1
        if statuses[0] == "trialing" and statuses[1:2] == ["canceled"]:
            lapsed += 1
        plans = [v["plan_id"] for v in vs]
        qty = [v["quantity"] for v in vs]
        upgrades += any(a != b for a, b in itertools.pairwise(plans))
        upgrades += any(b > a for a, b in itertools.pairwise(qty))
    # Then trials convert and lapse, and plans or seats change
    assert converted > 0
    assert lapsed > converted / 2
    assert upgrades > 0
    # And the rest of the story is there: scheduled cancellations, dunning, discounts,
    # currencies and intervals, retired plans, refunds, prorations, roles, deleted users
    scheduled = [r for r in subs if r["cancel_at_period_end"] and r["status"] == "active"]
    assert scheduled
    assert all(r["ended_at"] > r["updated_at"] and r["canceled_at"] for r in scheduled)
    statuses = Counter(r["status"] for r in subs)
    assert statuses["past_due"] > 0
    assert statuses["unpaid"] > 0
    assert sum(r["discount_percent"] > 0 for r in subs) > 0
    plans = {r["plan_id"]: r for _e, r in loaded["billing/plans"]}
    used = {plans[r["plan_id"]]["currency"] for r in subs}
    assert used == {"usd", "eur", "gbp"}
    assert any(plans[r["plan_id"]]["billing_interval"] == "year" for r in subs)
    assert any(plans[r["plan_id"]]["interval_count"] in ("3", "6") for r in subs)
    assert any(p["is_active"] == "false" for p in plans.values())
    subs_per_account: dict[str, set[str]] = defaultdict(set)
    for r in subs:
        subs_per_account[r["account_id"]].add(r["subscription_id"])
    assert any(len(v) > 1 for v in subs_per_account.values())
    invoices = [r for _e, r in loaded["billing/invoices"]]
    assert any(r["amount_refunded_minor"] > 0 for r in invoices)
    assert any(line["is_proration"] for r in invoices for line in r["lines"])
    assert {r["status"] for r in invoices} >= {"paid", "open"}
    users = [r for _e, r in loaded["app/users"]]
    assert {r["role"] for r in users} == {"owner", "admin", "member"}
    assert any(r["deleted_at"] for r in users)
    quantities = [r["quantity"] for r in subs]
    assert max(quantities) <= MAX_QUANTITY


def test_events_late_and_resent_and_fx_corrections(
    loaded: dict[str, list[tuple[date, dict]]],
) -> None:
    """Given every simulated event and fx rate, when they are compared with their export dates and
    each other, then some events are late and some re-sent (identical to their first delivery), and
    some fx rates are corrected by a later row."""
    # When events are compared with their export date and with each other
    events = loaded["app/events"]
    late = sum(1 for e, r in events if _ts(r["occurred_at"]).date() < e)
    ids = Counter(r["event_id"] for _e, r in events)
    resent = [i for i, c in ids.items() if c > 1]
    # Then some arrive late and some again, a re-sent event identical to its first delivery
    assert late > 0
    assert resent
    for _e, r in events:
        assert isinstance(r["properties"], dict)
    first_seen: dict[str, str] = {}
    for _e, r in events:
        line = json.dumps(r, sort_keys=True)
        assert first_seen.setdefault(r["event_id"], line) == line
    # And some fx rates are corrected by a later row, for eur and gbp only
    fx = Counter((r["rate_date"], r["currency"]) for _e, r in loaded["billing/fx_rates"])
    assert any(c > 1 for c in fx.values())
    assert {c for _d, c in fx} == {"eur", "gbp"}


# --- scale -----------------------------------------------------------------------------

def test_volume_is_linear_in_scale(tmp_path: Path) -> None:
    """Given one period, when it is simulated at scale 0.02 and 0.04, then the larger one has about
    twice the accounts, events and subscriptions (a ratio between 1.6 and 2.4)."""
    # Given the same period
    kwargs = {"start": START, "end": END, "daily_days": DAILY}
    # When it is simulated at scale 0.02 and at 0.04
    small = simulate(tmp_path / "s", scale=0.02, **kwargs)
    large = simulate(tmp_path / "l", scale=0.04, **kwargs)
    # Then twice the scale gives about twice the rows and accounts
    for name in ("app/accounts", "app/events", "billing/subscriptions"):
        ratio = large.rows[name] / small.rows[name]
        assert 1.6 <= ratio <= 2.4, (name, ratio)
    assert 1.6 <= large.accounts / small.accounts <= 2.4


# --- dirty mode ------------------------------------------------------------------------

def test_dirty_mode_breaks_every_entity_but_lines_stay_readable(tmp_path: Path) -> None:
    """Given seed 11 and 5 % dirty rows, when the simulator runs, then every entity has some but
    under 20 % bad rows, files have BOMs and CRLF, unparseable JSON lines are no more than the bad
    rows, and the same seed breaks as many rows again."""
    # When the simulator runs with 5 % dirty rows
    summary = simulate(tmp_path, scale=0.02, start=START, end=END, daily_days=DAILY,
                       dirty_share=0.05, seed=11)
    # Then every entity has some bad rows, but under a fifth
    for name in ENTITIES:
        assert summary.bad_rows[name] > 0, name
        assert summary.bad_rows[name] < summary.rows[name] * 0.2, name
    # And files have BOMs and CRLF, and JSON lines that do not parse are bad rows
    unreadable = Counter()
    boms = crlf = 0
    for path in tmp_path.rglob("*.*"):
        raw = path.read_bytes()
        boms += raw.startswith(b"\xef\xbb\xbf")
        crlf += b"\r\n" in raw
        name = "/".join(path.relative_to(tmp_path).parts[:2])
        if path.suffix == ".jsonl":
            for line in raw.splitlines():
                try:
                    json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    unreadable[name] += 1
    assert boms > 0
    assert crlf > 0
    for name, count in unreadable.items():
        assert 0 < count <= summary.bad_rows[name]
    # And the same seed breaks as many rows again
    again = simulate(tmp_path / "again", scale=0.02, start=START, end=END, daily_days=DAILY,
                     dirty_share=0.05, seed=11)
    assert again.bad_rows == summary.bad_rows
