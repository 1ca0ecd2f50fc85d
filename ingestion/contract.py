"""The landing contract (``docs/architecture/landing-contract.md``) as data.

Each entity lists its columns with a logical type and the rules a value must follow. The
loader turns these rules into one validating SQL statement per entity; the simulator
writes exactly these columns; Bronze stores the typed values plus lineage columns. The
logical types map to DuckDB/Parquet types as follows:

=========  ==================  ===================================================
type       Bronze type         accepted landing value
=========  ==================  ===================================================
string     VARCHAR             any text (JSON: a string)
int        BIGINT              ``-?[0-9]+`` (JSON: an integer number)
number     DOUBLE              a decimal number (JSON: any number)
decimal    DECIMAL(18,8)       a decimal number (JSON: any number)
bool       BOOLEAN             ``true``/``false`` (JSON: a boolean)
date       DATE                ``YYYY-MM-DD``, a real calendar day
timestamp  TIMESTAMPTZ (UTC)   ISO-8601 with an explicit offset (``Z`` or ``+hh:mm``)
json       VARCHAR (JSON)      JSON: an array or object; CSV: JSON text
=========  ==================  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lakecore.errors import UserInputError

SOURCES = ("billing", "app")
FORMATS = {"csv": ".csv", "jsonl": ".jsonl"}

#: Timestamps outside [MIN_TIMESTAMP, export date + FUTURE_TOLERANCE_DAYS] are quarantined.
MIN_TIMESTAMP = "2000-01-01"
FUTURE_TOLERANCE_DAYS = 3 * 366 + 1
#: Seats above this are treated as a data error, not a customer (RELIABILITY B7).
MAX_QUANTITY = 100_000

LOGICAL_TYPES = ("string", "int", "number", "decimal", "bool", "date", "timestamp", "json")
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "number": "DOUBLE",
    "decimal": "DECIMAL(18,8)",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "json": "VARCHAR",
}

#: Lineage columns on every Bronze row, in this order, after the entity's own columns.
LINEAGE_COLUMNS = {
    "_batch_id": "VARCHAR",       # SHA-256 of the landing file's bytes
    "_source_file": "VARCHAR",    # landing path relative to the landing zone
    "_line_number": "BIGINT",     # 1-based physical line (CSV: the record's first line)
    "_export_date": "DATE",       # the <export_date> folder; = the ingestion_date partition
    "_ingested_at": "TIMESTAMPTZ",
    "_extra": "VARCHAR",          # JSON object of columns the contract does not know (B5)
}


@dataclass(frozen=True)
class Column:
    """One field of a landing entity and the rules its values must follow."""

    name: str
    type: str
    required: bool = True
    enum: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    pii: bool = False

    def __post_init__(self) -> None:
        """Reject a column whose logical type is not one of ``LOGICAL_TYPES``."""
        if self.type not in LOGICAL_TYPES:
            raise ValueError(f"column {self.name}: unknown logical type {self.type}")


@dataclass(frozen=True)
class Entity:
    """A landing entity: ``<source>/<entity>`` exports of one format."""

    source: str
    name: str
    format: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    change_export: bool = True
    description: str = ""
    time_column: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        """``<source>/<entity>``, the entity's name in the landing layout and in messages."""
        return f"{self.source}/{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the contract's columns, in contract order."""
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The names of the columns every record must carry, in contract order."""
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        """The contract column called ``name``; ``KeyError`` if the entity has none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _c(name: str, type_: str = "string", **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


def _ts(name: str, required: bool = True) -> Column:
    return Column(name, "timestamp", required=required)


def _money(name: str) -> Column:
    return Column(name, "int", min_value=0)


CURRENCIES = ("usd", "eur", "gbp")
SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "unpaid", "canceled")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")

ENTITIES: dict[str, Entity] = {
    e.qualified: e
    for e in (
        Entity(
            "billing", "plans", "csv", ("plan_id",),
            (
                _c("plan_id"),
                _c("plan_name"),
                _c("tier", enum=("starter", "growth", "scale", "enterprise")),
                _c("billing_interval", enum=("month", "year")),
                _c("interval_count", "int", min_value=1, max_value=36),
                _c("unit_amount_minor", "int", min_value=0),
                _c("currency", enum=CURRENCIES),
                _c("is_active", "bool"),
                _ts("updated_at"),
            ),
            description="The plan catalog; a new price is a new plan_id.",
            time_column="updated_at",
        ),
        Entity(
            "billing", "subscriptions", "jsonl", ("subscription_id",),
            (
                _c("subscription_id"),
                _c("account_id"),
                _c("plan_id"),
                _c("quantity", "int", min_value=1, max_value=MAX_QUANTITY),
                _c("status", enum=SUBSCRIPTION_STATUSES),
                _ts("trial_start", required=False),
                _ts("trial_end", required=False),
                _ts("started_at"),
                _ts("current_period_start"),
                _ts("current_period_end"),
                _c("cancel_at_period_end", "bool"),
                _ts("canceled_at", required=False),
                _ts("ended_at", required=False),
                _c("discount_percent", "number", min_value=0, max_value=100),
                _ts("created_at"),
                _ts("updated_at"),
            ),
            description="Subscription versions; the greatest updated_at wins.",
            time_column="updated_at",
        ),
        Entity(
            "billing", "invoices", "jsonl", ("invoice_id",),
            (
                _c("invoice_id"),
                _c("account_id"),
                _c("subscription_id"),
                _c("status", enum=INVOICE_STATUSES),
                _c("currency", enum=CURRENCIES),
                _ts("created_at"),
                _ts("paid_at", required=False),
                _ts("updated_at"),
                _ts("period_start"),
                _ts("period_end"),
                _money("subtotal_minor"),
                _money("discount_minor"),
                _money("tax_minor"),
                _money("total_minor"),
                _money("amount_paid_minor"),
                _money("amount_refunded_minor"),
                _c("lines", "json"),
            ),
            description="Invoice versions with their lines (JSON array).",
            time_column="updated_at",
        ),
        Entity(
            "billing", "fx_rates", "csv", ("rate_date", "currency"),
            (
                _c("rate_date", "date"),
                _c("currency", enum=("eur", "gbp", "usd")),
                _c("usd_per_unit", "decimal", min_value=0.000001, max_value=1000),
            ),
            change_export=False,
            description="Daily USD rates; a later export corrects an earlier day.",
            time_column="rate_date",
        ),
        Entity(
            "app", "accounts", "csv", ("account_id",),
            (
                _c("account_id"),
                _c("account_name", pii=True),
                _c("country_code"),
                _c("segment", enum=("smb", "mid_market", "enterprise")),
                _c("industry"),
                _c("acquisition_channel"),
                _ts("created_at"),
                _ts("updated_at"),
            ),
            description="Customer accounts (the product's tenants).",
            time_column="updated_at",
        ),
        Entity(
            "app", "users", "csv", ("user_id",),
            (
                _c("user_id"),
                _c("account_id"),
                _c("email", pii=True),
                _c("role", enum=("owner", "admin", "member")),
                _ts("created_at"),
                _ts("updated_at"),
                _ts("deleted_at", required=False),
            ),
            description="Users of customer accounts; emails are personal data.",
            time_column="updated_at",
        ),
        Entity(
            "app", "events", "jsonl", ("event_id",),
            (
                _c("event_id"),
                _c("account_id"),
                _c("user_id"),
                _c("event_name"),
                _ts("occurred_at"),
                _c("properties", "json", required=False),
            ),
            change_export=False,
            description="Append-only product events; may be re-sent or arrive up to 7 days late.",
            time_column="occurred_at",
        ),
    )
}


def entity(source: str, name: str) -> Entity:
    """Look up an entity by source and name (both allow-listed)."""
    try:
        return ENTITIES[f"{source}/{name}"]
    except KeyError:
        known = ", ".join(sorted(ENTITIES))
        raise UserInputError(f"unknown entity {source}/{name}; known: {known}") from None
