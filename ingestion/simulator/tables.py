"""Entity tables: the rows of each landing entity and how to render any subset of them.

A ``Table`` holds, per row, the instant that decides its export day (``updated_at``,
``rate_date`` or, for events, the delivery day) and a ``render`` function that turns the
rows at given indices into one text array per contract column: JSON literals for JSON
Lines entities, raw field text (``None`` = null) for CSV entities. Rendering only the rows
of one file at a time keeps memory bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.contract import ENTITIES, INVOICE_STATUSES, SUBSCRIPTION_STATUSES, Entity
from ingestion.simulator import _fmt as f
from ingestion.simulator import catalog as cat
from ingestion.simulator._fmt import SECONDS_PER_DAY as DAY
from ingestion.simulator.accounts import Accounts, AccountVersions, Users, suffix_vocabulary
from ingestion.simulator.billing import Billing
from ingestion.simulator.events import EventBatch

Columns = dict[str, f.Piece]
ACCOUNT_ID = ("acc_", 8)
USER_ID = ("usr_", 9)
SUB_ID = ("sub_", 8)
INVOICE_ID = ("in_", 9)
LINE_ID = ("il_", 10)
EVENT_ID = ("evt_", 11)


@dataclass
class Table:
    """Rows of one entity: the instant deciding each row's export, and a renderer."""

    entity: Entity
    time: np.ndarray
    render: Callable[[np.ndarray], Columns]
    #: Export day per row when it is not the day of ``time`` (fx corrections).
    export_day: np.ndarray | None = None

    @property
    def size(self) -> int:
        """The number of rows."""
        return len(self.time)


def _ts(secs: np.ndarray, *, json: bool) -> f.Piece:
    """Timestamps as JSON literals or CSV text; negative means null."""
    secs = np.asarray(secs)
    null = secs < 0
    if not null.any():
        return f.timestamp_matrix(secs, quoted=json)
    return f.nullable(f.timestamps(np.where(null, 0, secs), quoted=json), null, json=json)


def _id(spec: tuple[str, int], nums: np.ndarray, *, json: bool) -> np.ndarray:
    return f.id_matrix(spec[0], nums, spec[1], quoted=json)


def _enum(vocab: tuple[str, ...] | list[str], codes: np.ndarray, *, json: bool) -> pa.Array:
    words = [f'"{w}"' for w in vocab] if json else list(vocab)
    return f.take(words, codes)


# --- billing/plans ---------------------------------------------------------------------

def plans_table(plans: cat.PlanCatalog, first_day: int, price_change_day: int) -> Table:
    """Plan catalog versions: launch, the new price generation, and retired old prices."""
    n = plans.size
    launch = (first_day - 30) * DAY + 9 * 3600
    change = price_change_day * DAY + 9 * 3600
    created = np.where(plans.generation == 1, change, launch)
    retired = np.flatnonzero((plans.generation == 0) & cat.TIER_HAS_GEN2[plans.tier]
                             & ~plans.is_addon)
    row_plan = np.concatenate([np.arange(n), retired])
    active = np.concatenate([np.ones(n, dtype=bool), np.zeros(len(retired), dtype=bool)])
    updated = np.concatenate([created, np.full(len(retired), change + 60)])
    interval_unit = np.array([i[0] for i in cat.INTERVALS])
    interval_count = np.array([i[1] for i in cat.INTERVALS])

    def render(idx: np.ndarray) -> Columns:
        p = row_plan[idx]
        return {
            "plan_id": f.take(plans.plan_id, p),
            "plan_name": f.take(plans.plan_name, p),
            "tier": f.take(list(cat.TIERS), plans.tier[p]),
            "billing_interval": f.take(list(interval_unit), plans.interval[p]),
            "interval_count": f.integers(interval_count[plans.interval[p]]),
            "unit_amount_minor": f.integers(plans.unit_amount[p]),
            "currency": f.take(list(cat.CURRENCIES), plans.currency[p]),
            "is_active": f.bools(active[idx]),
            "updated_at": _ts(updated[idx], json=False),
        }

    return Table(ENTITIES["billing/plans"], updated, render)


# --- billing/fx_rates ------------------------------------------------------------------

def fx_table(rng: np.random.Generator, first_day: int, last_day: int,
             first_daily: int) -> Table:
    """Daily EUR and GBP rates (mean-reverting random walks) plus late corrections."""
    days = np.arange(first_day, last_day + 1)
    n = len(days)
    rates = []
    for level, vol in ((1.085, 0.0035), (1.265, 0.0030)):
        x = np.empty(n)
        shocks = rng.normal(0.0, vol, n)
        x[0] = np.log(level)
        for i in range(1, n):  # one step per day, not per row
            x[i] = x[i - 1] + shocks[i] - 0.01 * (x[i - 1] - np.log(level))
        rates.append(np.exp(x))
    rate_day = np.concatenate([days, days])
    currency = np.concatenate([np.full(n, 1), np.full(n, 2)])
    rate = np.concatenate(rates)
    export = rate_day.copy()
    # Corrections: some daily exports re-send an earlier day with a revised rate.
    daily = np.arange(max(first_daily, first_day + 1), last_day + 1)
    fix_day = daily[rng.random(len(daily)) < 0.1]
    back = np.minimum(rng.integers(1, 11, len(fix_day)), fix_day - first_day)
    which = rng.integers(0, 2, len(fix_day))
    orig = (fix_day - back - first_day) + which * n
    rate_day = np.concatenate([rate_day, rate_day[orig]])
    currency = np.concatenate([currency, currency[orig]])
    rate = np.concatenate([rate, rate[orig] * (1 + rng.normal(0, 0.004, len(orig)))])
    export = np.concatenate([export, fix_day])
    order = np.lexsort((currency, rate_day, export))
    rate_day, currency, rate, export = rate_day[order], currency[order], rate[order], export[order]

    def render(idx: np.ndarray) -> Columns:
        return {
            "rate_date": f.dates(rate_day[idx]),
            "currency": f.take(list(cat.CURRENCIES), currency[idx]),
            "usd_per_unit": f.decimals(rate[idx], 6),
        }

    return Table(ENTITIES["billing/fx_rates"], rate_day * DAY, render, export_day=export)


# --- app/accounts ----------------------------------------------------------------------

def accounts_table(acc: Accounts, ver: AccountVersions) -> Table:
    """Account versions (creation and later edits)."""
    suffixes = [s if s.startswith(",") else " " + s for s in suffix_vocabulary()]

    def render(idx: np.ndarray) -> Columns:
        a = ver.account[idx]
        name = pc.binary_join_element_wise(
            f.take(list(cat.NAME_FIRST), ver.name_first[idx]), " ",
            f.take(list(cat.NAME_SECOND), acc.name_second[a]),
            f.take(suffixes, acc.name_suffix[a]), "",
        )
        return {
            "account_id": _id(ACCOUNT_ID, a + 1, json=False),
            "account_name": name,
            "country_code": f.take(list(cat.COUNTRIES), acc.country[a]),
            "segment": f.take(list(cat.SEGMENTS), ver.segment[idx]),
            "industry": f.take(list(cat.INDUSTRIES), ver.industry[idx]),
            "acquisition_channel": f.take(list(cat.CHANNELS), acc.channel[a]),
            "created_at": _ts(acc.created[a], json=False),
            "updated_at": _ts(ver.updated_at[idx], json=False),
        }

    return Table(ENTITIES["app/accounts"], ver.updated_at, render)


# --- app/users -------------------------------------------------------------------------

def users_table(acc: Accounts, users: Users) -> Table:
    """User versions: creation, and deletion for the users deleted later."""
    n = users.size
    deleted = np.flatnonzero(users.deleted >= 0)
    row_user = np.concatenate([np.arange(n), deleted])
    is_del = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(deleted), dtype=bool)])
    updated = np.concatenate([users.created, users.deleted[deleted]])
    domains = [w.lower() for w in cat.NAME_SECOND]

    def render(idx: np.ndarray) -> Columns:
        u = row_user[idx]
        a = users.account[u]
        email = pc.binary_join_element_wise(
            f.take(list(cat.PERSON_FIRST), users.first[u]), ".",
            f.take(list(cat.PERSON_LAST), users.last[u]), f.integers(u + 1), "@",
            f.take(domains, acc.name_second[a]), f.integers(a + 1), ".example.com", "",
        )
        return {
            "user_id": _id(USER_ID, u + 1, json=False),
            "account_id": _id(ACCOUNT_ID, a + 1, json=False),
            "email": email,
            "role": f.take(["owner", "admin", "member"], users.role[u]),
            "created_at": _ts(users.created[u], json=False),
            "updated_at": _ts(updated[idx], json=False),
            "deleted_at": _ts(np.where(is_del[idx], users.deleted[u], -1), json=False),
        }

    return Table(ENTITIES["app/users"], updated, render)


# --- billing/subscriptions -------------------------------------------------------------

def subscriptions_table(billing: Billing, plans: cat.PlanCatalog) -> Table:
    """Every subscription version the billing system recorded."""
    v = billing.versions
    plan_ids = [f'"{p}"' for p in plans.plan_id]

    def render(idx: np.ndarray) -> Columns:
        return {
            "subscription_id": _id(SUB_ID, v["sub"][idx].astype(np.int64) + 1, json=True),
            "account_id": _id(ACCOUNT_ID, v["acct"][idx].astype(np.int64) + 1, json=True),
            "plan_id": f.take(plan_ids, v["plan"][idx]),
            "quantity": f.integers(v["qty"][idx]),
            "status": _enum(SUBSCRIPTION_STATUSES, v["status"][idx], json=True),
            "trial_start": _ts(v["trial_start"][idx], json=True),
            "trial_end": _ts(v["trial_end"][idx], json=True),
            "started_at": _ts(v["started"][idx], json=True),
            "current_period_start": _ts(v["cps"][idx], json=True),
            "current_period_end": _ts(v["cpe"][idx], json=True),
            "cancel_at_period_end": f.bools(v["cape"][idx]),
            "canceled_at": _ts(v["canceled_at"][idx], json=True),
            "ended_at": _ts(v["ended_at"][idx], json=True),
            "discount_percent": f.numbers(v["disc"][idx]),
            "created_at": _ts(v["created"][idx], json=True),
            "updated_at": _ts(v["updated_at"][idx], json=True),
        }

    return Table(ENTITIES["billing/subscriptions"], v["updated_at"], render)


# --- billing/invoices ------------------------------------------------------------------

def invoice_amounts(billing: Billing, plans: cat.PlanCatalog, acc: Accounts,
                    rows: np.ndarray) -> dict[str, np.ndarray]:
    """Line amounts, subtotal, discount, tax and total of the invoices ``rows`` (minor units).

    Every amount depends on its own invoice only, so computing them per rendered chunk gives
    the same values as computing them for all invoices at once.
    """
    inv = {k: billing.invoices[k][rows] for k in
           ("acct", "plan", "qty", "frac", "old_plan", "old_qty", "disc")}
    unit = plans.unit_amount
    prorate = inv["old_plan"] >= 0
    new_amount = np.floor(unit[inv["plan"]] * inv["qty"] * inv["frac"] + 0.5).astype(np.int64)
    old_amount = np.where(
        prorate,
        -np.floor(unit[np.maximum(inv["old_plan"], 0)] * inv["old_qty"] * inv["frac"] + 0.5),
        0,
    ).astype(np.int64)
    subtotal = new_amount + old_amount
    discount = np.floor(subtotal * inv["disc"] / 100.0 + 0.5).astype(np.int64)
    tax_rate = cat.COUNTRY_TAX[acc.country[inv["acct"]]]
    tax = np.floor((subtotal - discount) * tax_rate + 0.5).astype(np.int64)
    return {
        "new": new_amount, "old": old_amount, "subtotal": subtotal, "discount": discount,
        "tax": tax, "total": subtotal - discount + tax, "prorate": prorate,
        "currency": plans.currency[inv["plan"]],
    }


def _lines_json(billing: Billing, plans: cat.PlanCatalog, amounts: dict[str, np.ndarray],
                inv_idx: np.ndarray) -> pa.Array:
    """The ``lines`` array of invoices ``inv_idx`` as JSON text (one or two line objects).

    ``amounts`` are those of ``invoice_amounts`` for the same invoices, in the same order.
    """
    inv = billing.invoices
    plan_ids = [f'"{p}"' for p in plans.plan_id]
    pstart = _ts(inv["pstart"][inv_idx], json=True)
    pend = _ts(inv["pend"][inv_idx], json=True)
    prorate = amounts["prorate"]

    def line(num: np.ndarray, plan: np.ndarray, qty: np.ndarray, amount: np.ndarray) -> pa.Array:
        return f.join_pieces([
            '{"line_id":', _id(LINE_ID, num, json=True), ',"plan_id":', f.take(plan_ids, plan),
            ',"quantity":', f.integers(qty), ',"amount_minor":', f.integers(amount),
            ',"period_start":', pstart, ',"period_end":', pend, ',"is_proration":',
            f.bools(prorate), "}",
        ], len(num))

    num = inv_idx.astype(np.int64) * 2
    charge = line(num + 2, inv["plan"][inv_idx], inv["qty"][inv_idx], amounts["new"])
    credit = line(num + 1, np.maximum(inv["old_plan"][inv_idx], 0),
                  inv["old_qty"][inv_idx], amounts["old"])
    two = pc.binary_join_element_wise("[", credit, ",", charge, "]", "")
    one = pc.binary_join_element_wise("[", charge, "]", "")
    return pc.if_else(pa.array(prorate), two, one)


def invoices_table(billing: Billing, plans: cat.PlanCatalog, acc: Accounts) -> Table:
    """Every invoice version (open, paid, written off, refunded)."""
    iv = billing.invoice_versions
    inv = billing.invoices
    currencies = [f'"{c}"' for c in cat.CURRENCIES]

    def render(idx: np.ndarray) -> Columns:
        i = iv["inv"][idx]
        amounts = invoice_amounts(billing, plans, acc, i)
        status = iv["status"][idx]
        total = amounts["total"]
        paid = np.where(status == 2, total, 0)
        refunded = np.floor(total * iv["refunded"][idx] + 0.5).astype(np.int64)
        return {
            "invoice_id": _id(INVOICE_ID, i.astype(np.int64) + 1, json=True),
            "account_id": _id(ACCOUNT_ID, inv["acct"][i].astype(np.int64) + 1, json=True),
            "subscription_id": _id(SUB_ID, inv["sub"][i].astype(np.int64) + 1, json=True),
            "status": _enum(INVOICE_STATUSES, status, json=True),
            "currency": f.take(currencies, amounts["currency"]),
            "created_at": _ts(inv["created"][i], json=True),
            "paid_at": _ts(iv["paid_at"][idx], json=True),
            "updated_at": _ts(iv["updated_at"][idx], json=True),
            "period_start": _ts(inv["pstart"][i], json=True),
            "period_end": _ts(inv["pend"][i], json=True),
            "subtotal_minor": f.integers(amounts["subtotal"]),
            "discount_minor": f.integers(amounts["discount"]),
            "tax_minor": f.integers(amounts["tax"]),
            "total_minor": f.integers(total),
            "amount_paid_minor": f.integers(paid),
            "amount_refunded_minor": f.integers(refunded),
            "lines": _lines_json(billing, plans, amounts, i),
        }

    return Table(ENTITIES["billing/invoices"], iv["updated_at"], render)


# --- app/events ------------------------------------------------------------------------

def render_events(batch: EventBatch) -> Columns:
    """Event rows as JSON literals."""
    _codes, prefixes, suffixes, has_num = cat.event_templates()
    names = [f'"{n}"' for n, _w, _t in cat.EVENT_TYPES]
    number = pc.if_else(pa.array(has_num[batch.template]), f.integers(batch.number), "")
    props = pc.binary_join_element_wise(
        f.take(prefixes, batch.template), number, f.take(suffixes, batch.template), ""
    )
    return {
        "event_id": _id(EVENT_ID, batch.event_id, json=True),
        "account_id": _id(ACCOUNT_ID, batch.acct + 1, json=True),
        "user_id": _id(USER_ID, batch.user + 1, json=True),
        "event_name": f.take(names, batch.name),
        "occurred_at": _ts(batch.occurred, json=True),
        "properties": props,
    }
