"""The billing system: a daily-step state machine over all subscriptions at once.

Each simulated day applies, with numpy operations over every live subscription, the
scheduled transitions (trial ends, renewals, payment retries, dunning cancellations) and
then random ones (cancellations, seat and plan changes, discount changes). Every
subscription changes at most once per day, and every change is recorded as a new version
(a full snapshot) stamped within that day, so ``updated_at`` strictly increases per
subscription. Invoices are created alongside (renewal, conversion, proration) with their
own status versions (open -> paid / uncollectible / void, later refunds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ingestion.simulator import catalog as cat
from ingestion.simulator._fmt import SECONDS_PER_DAY as DAY
from ingestion.simulator.accounts import Accounts, business_time_of_day, choice_rows

TRIALING, ACTIVE, PAST_DUE, UNPAID, CANCELED = range(5)
PRIMARY, ADDON, COMEBACK = range(3)
INV_DRAFT, INV_OPEN, INV_PAID, INV_VOID, INV_UNCOLLECTIBLE = range(5)
TRIAL_DAYS = 14
HOUR = 3600

_STATE_FIELDS: dict[str, tuple[type, float]] = {
    "acct": (np.int64, 0), "kind": (np.int8, 0), "parent": (np.int64, -1),
    "plan": (np.int64, 0), "qty": (np.int64, 1), "status": (np.int8, 0),
    "disc": (np.float64, 0.0), "trial_start": (np.int64, -1), "trial_end": (np.int64, -1),
    "started": (np.int64, -1), "cps": (np.int64, -1), "cpe": (np.int64, -1),
    "cape": (np.bool_, False), "canceled_at": (np.int64, -1), "ended_at": (np.int64, -1),
    "created": (np.int64, -1), "anchor": (np.int64, 0), "live": (np.bool_, False),
    "convert": (np.bool_, False), "retries": (np.int8, 0), "action_day": (np.int64, -1),
    "open_inv": (np.int64, -1), "last_day": (np.int64, -1), "churn": (np.float64, 0.0),
    "fail": (np.float64, 0.0), "paid": (np.bool_, False), "engagement": (np.float64, 1.0),
}
#: The fields copied into each subscription version.
VERSION_FIELDS = (
    "acct", "plan", "qty", "status", "trial_start", "trial_end", "started", "cps", "cpe",
    "cape", "canceled_at", "ended_at", "disc", "created",
)
_INVOICE_FIELDS = (
    "sub", "acct", "plan", "qty", "disc", "pstart", "pend", "created", "old_plan",
    "old_qty", "frac",
)


def _paying(status: np.ndarray) -> np.ndarray:
    """Status counts as a paying subscription (active or past due)."""
    return (status == ACTIVE) | (status == PAST_DUE)


def add_months(ts: np.ndarray, months: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Advance timestamps by whole months, keeping the anchor day (clamped to month end)."""
    day = ts // DAY
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + months
    first = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    nxt = (month + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return (first + np.minimum(anchor, nxt - first - 1)) * DAY + ts % DAY


def day_of_month(ts: np.ndarray) -> np.ndarray:
    """Zero-based day of month of timestamps."""
    day = (ts // DAY).astype("datetime64[D]")
    return (day - day.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)


@dataclass
class Billing:
    """What the billing simulation produced."""

    #: Subscription versions: VERSION_FIELDS plus ``sub`` and ``updated_at``.
    versions: dict[str, np.ndarray]
    #: Final state of every subscription (``_STATE_FIELDS``), one row per subscription.
    subs: dict[str, np.ndarray]
    #: Invoices (``_INVOICE_FIELDS``), one row per invoice.
    invoices: dict[str, np.ndarray]
    #: Invoice versions: ``inv``, ``status``, ``paid_at``, ``updated_at``, ``refunded``.
    invoice_versions: dict[str, np.ndarray]
    price_change_day: int


#: Storage types of recorded columns narrower than int64 (row indices, plan codes, seats).
#: Every value fits with a wide margin, so a narrower copy changes no value, only memory:
#: the recorded history is the largest state of the simulation.
_COMPACT: dict[str, type] = {
    "sub": np.int32, "acct": np.int32, "inv": np.int32, "plan": np.int16,
    "old_plan": np.int16, "qty": np.int32, "old_qty": np.int32, "status": np.int8,
}


class _Chunks:
    """Column chunks appended per day and concatenated once at the end."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.parts: dict[str, list[np.ndarray]] = {f: [] for f in fields}

    def add(self, **cols: np.ndarray) -> None:
        """Append one chunk per column, stored in its compact type (``_COMPACT``)."""
        for name, values in cols.items():
            self.parts[name].append(np.asarray(values, dtype=_COMPACT.get(name)))

    def build(self) -> dict[str, np.ndarray]:
        """Concatenate every column, releasing its chunks as it goes."""
        out = {}
        for name in list(self.parts):
            parts = self.parts.pop(name)
            out[name] = (np.concatenate(parts) if parts
                         else np.zeros(0, dtype=_COMPACT.get(name, np.int64)))
            del parts
        return out


class BillingSimulator:
    """Run the subscription lifecycle of every account from the first to the last day."""

    def __init__(
        self,
        rng: np.random.Generator,
        accounts: Accounts,
        plans: cat.PlanCatalog,
        first_day: int,
        last_day: int,
    ) -> None:
        """Prepare empty subscription state for ``first_day``..``last_day`` (epoch days).

        The price change falls ``PRICE_CHANGE_AT`` of the way through the period, and the
        state arrays start with room for 1.6 subscriptions per account.
        """
        self.rng = rng
        self.acc = accounts
        self.plans = plans
        self.months = plans.months()
        self.first_day = first_day
        self.last_day = last_day
        span = last_day - first_day
        self.price_change_day = first_day + round(span * cat.PRICE_CHANGE_AT)
        self.n = 0
        self.s: dict[str, np.ndarray] = {}
        self._grow(max(64, int(accounts.size * 1.6)))
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = (
            defaultdict(list)
        )
        self.versions = _Chunks(("sub", "updated_at", *VERSION_FIELDS))
        self.invoices = _Chunks(_INVOICE_FIELDS)
        self.inv_versions = _Chunks(("inv", "status", "paid_at", "updated_at"))
        self.n_inv = 0
        self._changed: list[tuple[np.ndarray, np.ndarray]] = []

    # --- state storage ------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        for name, (dtype, default) in _STATE_FIELDS.items():
            arr: np.ndarray = np.full(capacity, default, dtype=dtype)
            if name in self.s:
                arr[: self.n] = self.s[name][: self.n]
            self.s[name] = arr

    def _alloc(self, k: int) -> np.ndarray:
        if self.n + k > len(self.s["acct"]):
            self._grow(max(2 * len(self.s["acct"]), self.n + k))
        idx = np.arange(self.n, self.n + k)
        self.n += k
        return idx

    def _changed_at(self, idx: np.ndarray, ts: np.ndarray, day: int) -> None:
        self.s["last_day"][idx] = day
        self._changed.append((idx, ts))

    # --- helpers ------------------------------------------------------------------------
    def _delay(self, k: int) -> np.ndarray:
        return self.rng.integers(5, 900, k)

    def _plan_for(self, tier: np.ndarray, interval: np.ndarray, currency: np.ndarray,
                  day: int) -> np.ndarray:
        gen = np.full(len(tier), 1 if day >= self.price_change_day else 0)
        return self.plans.lookup[gen, tier, interval, currency]

    def _choose_plans(self, acct: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Plan and seats of a new subscription, from the account's segment and country."""
        seg = self.acc.segment[acct]
        tier = choice_rows(self.rng, cat.SEGMENT_TIER[seg])
        interval = choice_rows(self.rng, cat.SEGMENT_INTERVAL[seg])
        interval = np.where(cat.TIER_INTERVALS[tier, interval], interval, 3)
        currency = cat.COUNTRY_CURRENCY[self.acc.country[acct]]
        plan = self._plan_for(tier, interval, currency, day)
        seats = cat.SEGMENT_SEATS_MEDIAN[seg] * np.exp(
            cat.SEGMENT_SEATS_SIGMA[seg] * self.rng.standard_normal(len(acct))
        )
        return plan, np.clip(np.round(seats), 1, 5000).astype(np.int64)

    def _new_invoice(self, idx: np.ndarray, ts: np.ndarray, failed: np.ndarray, *,
                     old_plan: np.ndarray | None = None, old_qty: np.ndarray | None = None,
                     frac: np.ndarray | None = None) -> np.ndarray:
        """Invoice the current period (or a proration) of ``idx``; paid unless ``failed``."""
        k = len(idx)
        inv = np.arange(self.n_inv, self.n_inv + k)
        self.n_inv += k
        s = self.s
        prorate = frac is not None
        self.invoices.add(
            sub=idx, acct=s["acct"][idx], plan=s["plan"][idx], qty=s["qty"][idx],
            disc=s["disc"][idx], pstart=ts if prorate else s["cps"][idx], pend=s["cpe"][idx],
            created=ts,
            old_plan=old_plan if old_plan is not None else np.full(k, -1),
            old_qty=old_qty if old_qty is not None else np.zeros(k, dtype=np.int64),
            frac=frac if frac is not None else np.ones(k),
        )
        paid_at = ts + self.rng.integers(2, 90, k)
        self.inv_versions.add(
            inv=inv, status=np.where(failed, INV_OPEN, INV_PAID),
            paid_at=np.where(failed, -1, paid_at), updated_at=np.where(failed, ts, paid_at),
        )
        return inv

    def _schedule(self, day: np.ndarray, acct: np.ndarray, kind: int,
                  parent: np.ndarray | None = None) -> None:
        """Queue future subscription creations (add-ons, comebacks) by day."""
        keep = day <= self.last_day
        day, acct = day[keep], acct[keep]
        par = parent[keep] if parent is not None else np.full(len(acct), -1)
        kinds = np.full(len(acct), kind)
        for d in np.unique(day):
            sel = day == d
            self.pending[int(d)].append((acct[sel], kinds[sel], par[sel]))

    # --- creations ----------------------------------------------------------------------
    def _create(self, day: int, acct: np.ndarray, kind: np.ndarray, parent: np.ndarray,
                ts: np.ndarray) -> None:
        k = len(acct)
        if not k:
            return
        rng, s = self.rng, self.s
        idx = self._alloc(k)
        seg = self.acc.segment[acct]
        ch = self.acc.channel[acct]
        plan, qty = self._choose_plans(acct, day)
        addon = kind == ADDON
        if addon.any():
            p = parent[addon]
            interval = np.where(self.plans.interval[s["plan"][p]] == 3, 3, 0)
            plan[addon] = self.plans.addon_lookup[interval, self.plans.currency[s["plan"][p]]]
            qty[addon] = np.maximum(1, np.round(s["qty"][p] * rng.uniform(0.3, 1.0, len(p))))
        trial = (kind == PRIMARY) & (rng.random(k) < cat.SEGMENT_TRIAL[seg])
        convert_p = np.minimum(cat.CHANNEL_CONVERSION[ch] * cat.SEGMENT_CONVERSION[seg], 0.9)
        disc = np.where(
            (rng.random(k) < cat.CHANNEL_DISCOUNT[ch] * (1 + (seg == 2))) & ~addon,
            cat.DISCOUNTS[rng.integers(0, len(cat.DISCOUNTS), k)], 0.0,
        )
        s["acct"][idx] = acct
        s["kind"][idx] = kind
        s["parent"][idx] = parent
        s["plan"][idx] = plan
        s["qty"][idx] = qty
        s["disc"][idx] = disc
        s["status"][idx] = np.where(trial, TRIALING, ACTIVE)
        s["trial_start"][idx] = np.where(trial, ts, -1)
        s["trial_end"][idx] = np.where(trial, ts + TRIAL_DAYS * DAY, -1)
        s["started"][idx] = ts
        s["created"][idx] = ts
        s["cps"][idx] = ts
        anchor = day_of_month(ts)
        s["anchor"][idx] = anchor
        s["cpe"][idx] = np.where(trial, ts + TRIAL_DAYS * DAY,
                                 add_months(ts, self.months[plan], anchor))
        s["live"][idx] = True
        s["convert"][idx] = rng.random(k) < convert_p
        s["paid"][idx] = ~trial
        s["churn"][idx] = (
            cat.SEGMENT_CHURN[seg] * cat.CHANNEL_CHURN[ch] / 30.0
            * rng.lognormal(0.0, 0.45, k) * np.where(addon, 0.6, 1.0)
        )
        s["fail"][idx] = cat.SEGMENT_PAYMENT_FAILURE[seg]
        s["engagement"][idx] = rng.lognormal(0.0, 0.5, k) * np.where(
            trial & ~s["convert"][idx], 0.35, 1.0
        )
        self._changed_at(idx, ts, day)
        direct = np.flatnonzero(~trial)
        if len(direct):
            self._new_invoice(idx[direct], ts[direct], np.zeros(len(direct), dtype=bool))
        # Some primary subscriptions are later joined by an add-on subscription.
        primary = np.flatnonzero(kind == PRIMARY)
        wants = primary[rng.random(len(primary)) < cat.SEGMENT_ADDON[seg[primary]]]
        if len(wants):
            when = day + rng.integers(30, 300, len(wants))
            self._schedule(when, acct[wants], ADDON, idx[wants])

    def _creations(self, day: int, signups: np.ndarray) -> None:
        rng, s = self.rng, self.s
        acct = [signups]
        kind = [np.full(len(signups), PRIMARY)]
        parent = [np.full(len(signups), -1)]
        ts = [self.acc.created[signups] + rng.integers(90, 600, len(signups))]
        for a, k, p in self.pending.pop(day, []):
            ok = np.ones(len(a), dtype=bool)
            has_parent = p >= 0
            # An add-on needs its parent paying and not on its way out.
            ok[has_parent] = (
                _paying(s["status"][p[has_parent]]) & ~s["cape"][p[has_parent]]
            )
            acct.append(a[ok])
            kind.append(k[ok])
            parent.append(p[ok])
            ts.append(day * DAY + business_time_of_day(rng, int(ok.sum())))
        self._create(day, np.concatenate(acct), np.concatenate(kind), np.concatenate(parent),
                     np.concatenate(ts))

    # --- scheduled transitions ----------------------------------------------------------
    def _trial_ends(self, day: int, live: np.ndarray) -> None:
        s, rng = self.s, self.rng
        idx = live[(s["status"][live] == TRIALING) & (s["cpe"][live] < (day + 1) * DAY)]
        if not len(idx):
            return
        end = s["cpe"][idx]
        ts = end + self._delay(len(idx))
        conv = s["convert"][idx]
        c, lapse = idx[conv], idx[~conv]
        # Converted trials start paying; a few first payments fail.
        failed = rng.random(len(c)) < s["fail"][c]
        s["cps"][c] = end[conv]
        s["anchor"][c] = day_of_month(end[conv])
        s["cpe"][c] = add_months(end[conv], self.months[s["plan"][c]], s["anchor"][c])
        s["paid"][c] = True
        self._start_dunning(day, c, failed)
        inv = self._new_invoice(c, ts[conv], failed)
        s["open_inv"][c[failed]] = inv[failed]
        # Lapsed trials end; a few come back much later as paying customers.
        s["status"][lapse] = CANCELED
        s["canceled_at"][lapse] = end[~conv]
        s["ended_at"][lapse] = end[~conv]
        s["live"][lapse] = False
        back = lapse[rng.random(len(lapse)) < 0.04]
        self._schedule(day + rng.integers(60, 300, len(back)), s["acct"][back], COMEBACK)
        self._changed_at(idx, ts, day)

    def _start_dunning(self, day: int, idx: np.ndarray, failed: np.ndarray) -> None:
        s = self.s
        s["status"][idx] = np.where(failed, PAST_DUE, ACTIVE)
        s["retries"][idx[failed]] = 0
        s["action_day"][idx[failed]] = day + 3

    def _renewals(self, day: int, live: np.ndarray) -> None:
        s, rng = self.s, self.rng
        idx = live[(s["status"][live] == ACTIVE) & (s["cpe"][live] < (day + 1) * DAY)]
        if not len(idx):
            return
        end = s["cpe"][idx]
        ts = end + self._delay(len(idx))
        stop = s["cape"][idx]
        # Scheduled cancellations take effect at the end of the paid period.
        gone = idx[stop]
        s["status"][gone] = CANCELED
        s["live"][gone] = False
        self._maybe_come_back(day, gone)
        # Everyone else renews: a new period and a new invoice.
        ren = idx[~stop]
        failed = rng.random(len(ren)) < s["fail"][ren]
        s["cps"][ren] = end[~stop]
        s["cpe"][ren] = add_months(end[~stop], self.months[s["plan"][ren]], s["anchor"][ren])
        self._start_dunning(day, ren, failed)
        inv = self._new_invoice(ren, ts[~stop], failed)
        s["open_inv"][ren[failed]] = inv[failed]
        self._changed_at(idx, ts, day)

    def _maybe_come_back(self, day: int, gone: np.ndarray) -> None:
        s, rng = self.s, self.rng
        cand = gone[s["kind"][gone] != ADDON]
        back = cand[rng.random(len(cand)) < 0.15]
        self._schedule(day + rng.integers(45, 300, len(back)), s["acct"][back], COMEBACK)

    def _dunning(self, day: int, live: np.ndarray) -> None:
        s, rng = self.s, self.rng
        st = s["status"][live]
        due = live[(s["action_day"][live] == day) & ((st == PAST_DUE) | (st == UNPAID))]
        if not len(due):
            return
        ts = day * DAY + s["cps"][due] % DAY + self._delay(len(due))
        unpaid = s["status"][due] == UNPAID
        # Unpaid for a week: the subscription is canceled, the invoice written off.
        gone, ts_gone = due[unpaid], ts[unpaid]
        s["status"][gone] = CANCELED
        s["canceled_at"][gone] = ts_gone
        s["ended_at"][gone] = ts_gone
        s["live"][gone] = False
        void = rng.random(len(gone)) < 0.3
        self.inv_versions.add(
            inv=s["open_inv"][gone], status=np.where(void, INV_VOID, INV_UNCOLLECTIBLE),
            paid_at=np.full(len(gone), -1), updated_at=ts_gone,
        )
        # Past due: retry the card.
        retry, ts_retry = due[~unpaid], ts[~unpaid]
        ok = rng.random(len(retry)) < 0.5
        rec = retry[ok]
        s["status"][rec] = ACTIVE
        self.inv_versions.add(
            inv=s["open_inv"][rec], status=np.full(len(rec), INV_PAID),
            paid_at=ts_retry[ok], updated_at=ts_retry[ok],
        )
        s["open_inv"][rec] = -1
        bad = retry[~ok]
        s["retries"][bad] += 1
        final = s["retries"][bad] >= 3
        s["status"][bad[final]] = UNPAID
        retries = s["retries"][bad].astype(np.int64)
        s["action_day"][bad] = np.where(final, day + 7, day + 3 + 2 * retries)
        changed = np.concatenate([gone, rec, bad[final]])
        changed_ts = np.concatenate([ts_gone, ts_retry[ok], ts_retry[~ok][final]])
        # A failed retry that is not the last one changes nothing visible.
        self._changed_at(changed, changed_ts, day)

    def _addon_cascade(self, day: int, live: np.ndarray) -> None:
        s = self.s
        sel = live[(s["kind"][live] == ADDON) & (s["last_day"][live] < day)]
        sel = sel[s["status"][s["parent"][sel]] == CANCELED]
        if not len(sel):
            return
        ts = day * DAY + business_time_of_day(self.rng, len(sel))
        open_inv = s["open_inv"][sel]
        has = open_inv >= 0
        self.inv_versions.add(
            inv=open_inv[has], status=np.full(int(has.sum()), INV_VOID),
            paid_at=np.full(int(has.sum()), -1), updated_at=ts[has],
        )
        self._cancel_now(sel, ts)
        self._changed_at(sel, ts, day)

    def _cancel_now(self, idx: np.ndarray, ts: np.ndarray) -> None:
        s = self.s
        s["status"][idx] = CANCELED
        s["cape"][idx] = False
        s["canceled_at"][idx] = ts
        s["ended_at"][idx] = ts
        s["live"][idx] = False
        s["open_inv"][idx] = -1

    # --- random transitions -------------------------------------------------------------
    def _random_changes(self, day: int, live: np.ndarray) -> None:
        s, rng = self.s, self.rng
        free = live[s["last_day"][live] < day]
        status = s["status"][free]
        # Trials that will not convert are sometimes abandoned early.
        tri = free[(status == TRIALING) & ~s["convert"][free]]
        quit_ = tri[rng.random(len(tri)) < 0.03]
        if len(quit_):
            ts = day * DAY + business_time_of_day(rng, len(quit_))
            self._cancel_now(quit_, ts)
            self._changed_at(quit_, ts, day)
        # A scheduled cancellation is sometimes taken back.
        pend = free[(status == ACTIVE) & s["cape"][free]]
        undo = pend[rng.random(len(pend)) < 0.004]
        if len(undo):
            s["cape"][undo] = False
            s["canceled_at"][undo] = -1
            s["ended_at"][undo] = -1
            self._changed_at(undo, day * DAY + business_time_of_day(rng, len(undo)), day)
        act = free[(status == ACTIVE) & ~s["cape"][free]]
        if len(act):
            self._active_changes(day, act)

    def _pick_changes(self, day: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which active subscriptions change today, and how (codes 0-6, see hazards)."""
        s, rng = self.s, self.rng
        # Draw once per subscription; only rows under an upper bound of the total hazard
        # can be hit, so the exact hazards are computed for those few rows only.
        u = rng.random(len(idx))
        bound = s["churn"][idx] * 1.4 + (0.040 * 1.6 + 0.012 + 0.012 + 0.006 + 0.05) / 30
        cand = u < bound
        idx, u = idx[cand], u[cand]
        k = len(idx)
        seg = self.acc.segment[s["acct"][idx]]
        young = (day * DAY - s["started"][idx]) < 120 * DAY
        base = s["kind"][idx] != ADDON
        has_disc = s["disc"][idx] > 0
        grow = np.where(seg > 0, 1.6, 1.0)
        hazards = np.stack([
            s["churn"][idx] * np.where(young, 1.4, 1.0),           # 0 cancel
            0.040 / 30 * grow,                                       # 1 seats up
            np.full(k, 0.012 / 30),                                  # 2 seats down
            0.012 / 30 * base,                                       # 3 upgrade
            0.006 / 30 * base,                                       # 4 downgrade
            0.05 / 30 * has_disc,                                    # 5 discount ends
            0.002 / 30 * ~has_disc * base,                           # 6 retention discount
        ], axis=1)
        cum = np.cumsum(hazards, axis=1)
        what = np.where(u < cum[:, -1], (u[:, None] >= cum).sum(axis=1), -1)
        hit = what >= 0
        return idx[hit], what[hit]

    def _new_terms(self, day: int, idx: np.ndarray,
                   what: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Plan, seats and discount after today's change of each subscription."""
        s, rng, plans = self.s, self.rng, self.plans
        plan = s["plan"][idx]
        tier = plans.tier[plan]
        qty = s["qty"][idx]
        new_plan, new_qty, new_disc = plan.copy(), qty.copy(), s["disc"][idx].copy()
        up = what == 1
        new_qty[up] = qty[up] + np.maximum(1, np.round(qty[up] * rng.uniform(0.05, 0.4, up.sum())))
        down = what == 2
        new_qty[down] = np.maximum(
            1, qty[down] - np.maximum(1, np.round(qty[down] * rng.uniform(0.05, 0.3, down.sum())))
        )
        for code, step in ((3, 1), (4, -1)):
            sel = what == code
            target = np.clip(tier[sel] + step, 0, len(cat.TIERS) - 1)
            other = self._plan_for(target, plans.interval[plan[sel]],
                                   plans.currency[plan[sel]], day)
            new_plan[sel] = np.where((other >= 0) & (target != tier[sel]), other, plan[sel])
        new_disc[what == 5] = 0.0
        new_disc[what == 6] = cat.DISCOUNTS[rng.integers(0, len(cat.DISCOUNTS), (what == 6).sum())]
        return new_plan, new_qty, new_disc

    def _active_changes(self, day: int, idx: np.ndarray) -> None:
        """Cancellations, seat/plan changes and discount changes of active subscriptions."""
        s, rng, plans = self.s, self.rng, self.plans
        idx, what = self._pick_changes(day, idx)
        if not len(idx):
            return
        ts = day * DAY + rng.integers(7 * HOUR, 22 * HOUR, len(idx))
        plan, qty = s["plan"][idx], s["qty"][idx]
        new_plan, new_qty, new_disc = self._new_terms(day, idx, what)
        # Cancellations: mostly at period end, otherwise immediately.
        cancel = what == 0
        scheduled = cancel & (rng.random(len(idx)) < np.where(self.months[plan] > 1, 0.9, 0.7))
        immediate = cancel & ~scheduled
        changed = cancel | (new_plan != plan) | (new_qty != qty) | (new_disc != s["disc"][idx])
        sch = idx[scheduled]
        s["cape"][sch] = True
        s["canceled_at"][sch] = ts[scheduled]
        s["ended_at"][sch] = s["cpe"][sch]
        self._cancel_now(idx[immediate], ts[immediate])
        self._maybe_come_back(day, idx[immediate])
        # Plan, seat and discount changes; upgrades and seat increases are prorated.
        more = (plans.unit_amount[new_plan] * new_qty > plans.unit_amount[plan] * qty) & ~cancel
        s["plan"][idx] = new_plan
        s["qty"][idx] = new_qty
        s["disc"][idx] = new_disc
        pro = idx[more]
        if len(pro):
            cps, cpe = s["cps"][pro], s["cpe"][pro]
            frac = (cpe - ts[more]) / np.maximum(cpe - cps, 1)
            self._new_invoice(pro, ts[more], np.zeros(len(pro), dtype=bool),
                              old_plan=plan[more], old_qty=qty[more], frac=frac)
        self._changed_at(idx[changed], ts[changed], day)

    # --- driver -------------------------------------------------------------------------
    def _emit(self) -> None:
        if not self._changed:
            return
        idx = np.concatenate([c[0] for c in self._changed])
        ts = np.concatenate([c[1] for c in self._changed])
        self._changed = []
        self.versions.add(sub=idx, updated_at=ts, **{f: self.s[f][idx] for f in VERSION_FIELDS})

    def run(self, end_ts: int, progress: Callable[[str], None] | None = None) -> Billing:
        """Simulate every day and return versions, final states and invoices."""
        created_day = self.acc.created // DAY
        bounds = np.searchsorted(created_day, np.arange(self.first_day, self.last_day + 2))
        for i, day in enumerate(range(self.first_day, self.last_day + 1)):
            self._creations(day, np.arange(bounds[i], bounds[i + 1]))
            live = np.flatnonzero(self.s["live"][: self.n])
            self._trial_ends(day, live)
            self._renewals(day, live)
            self._dunning(day, live)
            self._addon_cascade(day, live)
            self._random_changes(day, live)
            self._emit()
            if progress and (day + 1 - self.first_day) % 365 == 0:
                progress(f"billing: day {i + 1:,}, {self.n:,} subscriptions")
        # Copy out the used rows one field at a time, releasing the spare capacity as it goes.
        subs = {k: self.s.pop(k)[: self.n].copy() for k in list(self.s)}
        invoices = self.invoices.build()
        inv_versions = self._refunds(self.inv_versions.build(), end_ts)
        return Billing(self.versions.build(), subs, invoices, inv_versions,
                       self.price_change_day)

    def _refunds(self, iv: dict[str, np.ndarray], end_ts: int) -> dict[str, np.ndarray]:
        """Refund a small share of paid invoices a few days later (a new invoice version)."""
        rng = self.rng
        iv["refunded"] = np.zeros(len(iv["inv"]), dtype=np.float64)
        paid = np.flatnonzero(iv["status"] == INV_PAID)
        pick = paid[rng.random(len(paid)) < 0.012]
        when = (iv["paid_at"][pick] // DAY + rng.integers(1, 21, len(pick))) * DAY
        when = when + business_time_of_day(rng, len(pick))
        pick, when = pick[when <= end_ts], when[when <= end_ts]
        share = np.where(rng.random(len(pick)) < 0.6, 1.0, 0.5)
        extra = {
            "inv": iv["inv"][pick], "status": iv["status"][pick], "paid_at": iv["paid_at"][pick],
            "updated_at": when, "refunded": share,
        }
        return {k: np.concatenate([iv[k], extra[k]]) for k in iv}
