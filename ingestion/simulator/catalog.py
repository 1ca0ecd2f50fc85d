"""The simulated company's fixed vocabulary: plans, segments, channels, countries, events.

Everything here is a small constant table; the behavioural parameters (conversion, churn,
seats) live next to the segment and channel they describe so that the business story is
readable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- customers -------------------------------------------------------------------------

SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_SHARE = np.array([0.70, 0.24, 0.06])
#: Monthly voluntary churn hazard of a paying subscription, per segment.
SEGMENT_CHURN = np.array([0.035, 0.018, 0.008])
#: Share of new subscriptions that start with a 14-day trial (the rest are sales-led).
SEGMENT_TRIAL = np.array([0.95, 0.85, 0.30])
#: Trial conversion multiplier per segment.
SEGMENT_CONVERSION = np.array([0.85, 1.15, 1.60])
#: Payment failure probability at each renewal, per segment.
SEGMENT_PAYMENT_FAILURE = np.array([0.07, 0.04, 0.02])
#: Probability that an account later adds the add-on product, per segment.
SEGMENT_ADDON = np.array([0.04, 0.18, 0.35])
#: Seats: lognormal median and spread per segment.
SEGMENT_SEATS_MEDIAN = np.array([2.5, 14.0, 70.0])
SEGMENT_SEATS_SIGMA = np.array([0.7, 0.6, 0.6])
#: Plan tier choice (starter, growth, scale, enterprise) per segment.
SEGMENT_TIER = np.array(
    [
        [0.55, 0.35, 0.10, 0.00],
        [0.10, 0.45, 0.40, 0.05],
        [0.00, 0.10, 0.40, 0.50],
    ]
)
#: Billing interval choice (month x1, month x3, month x6, year x1) per segment.
SEGMENT_INTERVAL = np.array(
    [
        [0.70, 0.06, 0.04, 0.20],
        [0.55, 0.08, 0.07, 0.30],
        [0.25, 0.05, 0.05, 0.65],
    ]
)

CHANNELS = ("organic", "paid_search", "partner", "outbound", "referral")
#: Channel mix per segment.
SEGMENT_CHANNEL = np.array(
    [
        [0.40, 0.30, 0.10, 0.05, 0.15],
        [0.25, 0.20, 0.20, 0.25, 0.10],
        [0.10, 0.00, 0.30, 0.50, 0.10],
    ]
)
#: Trial conversion base rate per channel, and churn multiplier per channel.
CHANNEL_CONVERSION = np.array([0.30, 0.18, 0.42, 0.38, 0.48])
CHANNEL_CHURN = np.array([1.0, 1.35, 0.85, 0.95, 0.75])
#: Share of subscriptions that start with a discount, per channel.
CHANNEL_DISCOUNT = np.array([0.06, 0.10, 0.25, 0.20, 0.12])
DISCOUNTS = np.array([10.0, 12.5, 20.0, 25.0])

INDUSTRIES = (
    "software", "fintech", "ecommerce", "healthcare", "education", "media",
    "manufacturing", "logistics", "professional_services", "nonprofit", "real_estate",
)
INDUSTRY_SHARE = np.array([0.22, 0.09, 0.13, 0.08, 0.07, 0.08, 0.08, 0.07, 0.11, 0.03, 0.04])

COUNTRIES = ("US", "GB", "DE", "FR", "CA", "NL", "AU", "ES", "IT", "SE", "PL", "IN", "IE", "BR")
COUNTRY_SHARE = np.array(
    [0.40, 0.11, 0.10, 0.07, 0.05, 0.04, 0.04, 0.03, 0.03, 0.02, 0.02, 0.04, 0.02, 0.03]
)
CURRENCIES = ("usd", "eur", "gbp")
#: Billing currency (index into CURRENCIES) and VAT rate per country.
COUNTRY_CURRENCY = np.array([0, 2, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0])
COUNTRY_TAX = np.array(
    [0.0, 0.20, 0.19, 0.20, 0.05, 0.21, 0.10, 0.21, 0.22, 0.25, 0.23, 0.18, 0.23, 0.0]
)
#: Company-name suffix per country ("" = none); some names carry commas or accents.
COUNTRY_SUFFIXES = {
    "US": ("Inc.", ", Inc.", "LLC", "Labs", "Co."),
    "GB": ("Ltd", "Ltd.", "plc", "Group"),
    "DE": ("GmbH", "AG", "GmbH & Co. KG"),
    "FR": ("SAS", "SARL", "S.A."),
    "CA": ("Inc.", "Ltd."),
    "NL": ("B.V.", "N.V."),
    "AU": ("Pty Ltd",),
    "ES": ("S.L.", "S.A."),
    "IT": ("S.r.l.", "S.p.A."),
    "SE": ("AB",),
    "PL": ("Sp. z o.o.", "S.A."),
    "IN": ("Pvt Ltd", "Technologies"),
    "IE": ("Ltd", "Teoranta"),
    "BR": ("Ltda.", "S.A."),
}
NAME_FIRST = (
    "Blue", "North", "Bright", "Silver", "Green", "Rapid", "Clear", "Atlas", "Nova", "Summit",
    "Harbor", "Iron", "Lumen", "Pioneer", "Vertex", "Cedar", "Quantum", "Orbit", "Maple",
    "Crimson", "Müller", "Größer", "Société", "Łódź", "Ångström", "Peña", "Zürich", "Søren",
    "Café", "Élan", "São", "Dvořák",
)
NAME_SECOND = (
    "Analytics", "Logistics", "Health", "Data", "Systems", "Cloud", "Retail", "Media",
    "Works", "Partners", "Foods", "Studio", "Finance", "Robotics", "Energy", "Learning",
    "Ventures", "Metrics", "Design", "Mobility",
)
PERSON_FIRST = (
    "anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jack",
    "kim", "lea", "marc", "nora", "omar", "paula", "quinn", "rosa", "sam", "tara", "ugo",
    "vera", "will", "xenia", "yusuf", "zoe", "jose", "lukasz", "soren", "chloe",
)
PERSON_LAST = (
    "smith", "mueller", "garcia", "rossi", "dubois", "kowalski", "nielsen", "brown",
    "martin", "silva", "jones", "schmidt", "lopez", "bianchi", "moreau", "novak", "berg",
    "taylor", "wilson", "khan", "patel", "murphy", "fischer", "costa",
)

# --- plans -----------------------------------------------------------------------------

TIERS = ("starter", "growth", "scale", "enterprise")
TIER_LABEL = ("Starter", "Growth", "Scale", "Enterprise")
#: Price per seat per month in USD cents, generation 1 and after the price change.
TIER_PRICE_GEN1 = np.array([1500, 3900, 7900, 14900])
TIER_PRICE_GEN2 = np.array([1900, 4500, 7900, 14900])
TIER_HAS_GEN2 = np.array([True, True, False, False])
#: Billing intervals: (billing_interval, interval_count, price multiplier vs monthly).
INTERVALS = (("month", 1, 1.0), ("month", 3, 2.85), ("month", 6, 5.5), ("year", 1, 9.6))
INTERVAL_SLUG = ("monthly", "quarterly", "semiannual", "annual")
#: Enterprise is sold monthly or yearly only.
TIER_INTERVALS = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 1]], dtype=bool)
CURRENCY_PRICE_FACTOR = np.array([1.0, 0.92, 0.80])
ADDON_PRICE = 500
ADDON_INTERVALS = (0, 3)
#: The price change happens at this fraction of the simulated period.
PRICE_CHANGE_AT = 0.55


@dataclass(frozen=True)
class PlanCatalog:
    """Every plan as parallel arrays plus lookup tables used by the billing simulation."""

    plan_id: list[str]
    plan_name: list[str]
    tier: np.ndarray
    interval: np.ndarray
    unit_amount: np.ndarray
    currency: np.ndarray
    generation: np.ndarray
    is_addon: np.ndarray
    #: ``lookup[gen, tier, interval, currency]`` -> plan index or -1.
    lookup: np.ndarray
    #: ``addon_lookup[interval, currency]`` -> plan index or -1.
    addon_lookup: np.ndarray

    @property
    def size(self) -> int:
        """The number of plans."""
        return len(self.plan_id)

    def months(self) -> np.ndarray:
        """Months per billing interval of every plan."""
        return np.array([1, 3, 6, 12])[self.interval]


def _price(base_usd_cents: float, currency: int) -> int:
    """A list price in minor units, rounded to a whole unit minus one cent ("x.99")."""
    value = base_usd_cents * CURRENCY_PRICE_FACTOR[currency]
    return max(99, round(value / 100.0) * 100 - 1)


def build_catalog() -> PlanCatalog:
    """Build the fixed plan catalog (a few dozen rows; a plain loop is fine here)."""
    rows: list[tuple[str, str, int, int, int, int, int, bool]] = []
    lookup = np.full((2, len(TIERS), len(INTERVALS), len(CURRENCIES)), -1, dtype=np.int64)
    addon_lookup = np.full((len(INTERVALS), len(CURRENCIES)), -1, dtype=np.int64)
    for gen, prices in enumerate((TIER_PRICE_GEN1, TIER_PRICE_GEN2)):
        for t, tier in enumerate(TIERS):
            if gen == 1 and not TIER_HAS_GEN2[t]:
                continue
            for i, (unit, count, factor) in enumerate(INTERVALS):
                if not TIER_INTERVALS[t, i]:
                    continue
                for c, cur in enumerate(CURRENCIES):
                    pid = f"plan_{tier}_{unit}{count}_{cur}_v{gen + 1}"
                    name = f"{TIER_LABEL[t]} ({INTERVAL_SLUG[i]}, {cur.upper()})"
                    if gen == 1:
                        name += " 2025"
                    lookup[gen, t, i, c] = len(rows)
                    rows.append((pid, name, t, i, _price(prices[t] * factor, c), c, gen, False))
    for i in ADDON_INTERVALS:
        for c, cur in enumerate(CURRENCIES):
            unit, count, factor = INTERVALS[i]
            pid = f"plan_addon_insights_{unit}{count}_{cur}_v1"
            name = f"Insights add-on ({INTERVAL_SLUG[i]}, {cur.upper()})"
            addon_lookup[i, c] = len(rows)
            rows.append((pid, name, 1, i, _price(ADDON_PRICE * factor, c), c, 0, True))
    # Generation 2 of scale/enterprise reuses generation 1 plans.
    for reused in np.flatnonzero(~TIER_HAS_GEN2):
        lookup[1, reused] = lookup[0, reused]
    cols = list(zip(*rows, strict=True))
    return PlanCatalog(
        plan_id=list(cols[0]),
        plan_name=list(cols[1]),
        tier=np.array(cols[2]),
        interval=np.array(cols[3]),
        unit_amount=np.array(cols[4], dtype=np.int64),
        currency=np.array(cols[5]),
        generation=np.array(cols[6]),
        is_addon=np.array(cols[7]),
        lookup=lookup,
        addon_lookup=addon_lookup,
    )


# --- product events --------------------------------------------------------------------

#: (event_name, relative frequency, property templates); a template's ``#`` is replaced
#: by a random integer.
EVENT_TYPES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("login", 20.0, ('{"method":"password"}', '{"method":"sso"}', '{"method":"google"}')),
    ("dashboard_viewed", 24.0, tuple(
        f'{{"dashboard":"{d}","load_ms":#}}'
        for d in ("revenue", "pipeline", "usage", "cohorts", "churn", "overview")
    )),
    ("report_viewed", 12.0, ('{"report_type":"table"}', '{"report_type":"chart"}')),
    ("report_created", 6.0, (
        '{"report_type":"table","columns":#}', '{"report_type":"chart","columns":#}',
        '{"report_type":"pivot","columns":#}',
    )),
    ("filter_applied", 10.0, ('{"field":"date"}', '{"field":"region"}', '{"field":"plan"}')),
    ("search_performed", 7.0, ('{"results":#}',)),
    ("export_run", 4.0, ('{"format":"csv","rows":#}', '{"format":"xlsx","rows":#}',
                         '{"format":"pdf","rows":#}')),
    ("comment_added", 4.0, ('{"length":#}',)),
    ("alert_created", 1.5, ('{"channel":"email"}', '{"channel":"slack"}')),
    ("invite_sent", 1.5, ('{"role":"member"}', '{"role":"admin"}')),
    ("settings_updated", 1.2, ('{"section":"profile"}', '{"section":"workspace"}',
                               '{"section":"notifications"}')),
    ("integration_connected", 0.5, tuple(
        f'{{"integration":"{i}"}}'
        for i in ("salesforce", "hubspot", "slack", "stripe", "snowflake", "bigquery")
    )),
    ("api_key_created", 0.3, ("{}",)),
    ("billing_page_viewed", 0.4, ('{"source":"settings"}', '{"source":"banner"}')),
)
#: Relative activity per hour of day (UTC), covering EU and US working hours.
HOUR_WEIGHTS = np.array(
    [0.5, 0.4, 0.3, 0.3, 0.3, 0.4, 0.8, 1.5, 2.4, 3.0, 3.2, 3.1, 3.0, 3.4, 3.8, 3.9, 3.6,
     3.0, 2.4, 1.9, 1.5, 1.2, 0.9, 0.7]
)
#: Relative activity per weekday (Monday first).
WEEKDAY_WEIGHTS = np.array([1.05, 1.1, 1.1, 1.05, 0.95, 0.3, 0.25])


def event_templates() -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """Flatten EVENT_TYPES into (template -> event code, prefixes, suffixes, has-number)."""
    codes, prefixes, suffixes, has_num = [], [], [], []
    for code, (_name, _weight, templates) in enumerate(EVENT_TYPES):
        for tpl in templates:
            head, _, tail = tpl.partition("#")
            codes.append(code)
            prefixes.append(head)
            suffixes.append(tail)
            has_num.append("#" in tpl)
    return np.array(codes), prefixes, suffixes, np.array(has_num)

