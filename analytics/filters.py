"""What a metric covers: the filterable dimensions and the filters of one slice.

``DIMENSIONS`` is the allow-list of what a filter or a breakdown can name (the only
identifiers that reach SQL); ``MetricFilters`` is one slice (months and accepted values
per dimension), checked when it is made. The metric layer (``analytics.metrics``) turns
it into Ibis predicates; values reach SQL only as literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from lakecore.errors import UserInputError

#: Filterable dimensions: name -> the Gold column it comes from. The only identifiers a
#: filter can name; anything else is refused.
DIMENSIONS: dict[str, str] = {
    "segment": "segment",
    "country": "country_code",
    "tier": "tier",
    "billing_interval": "billing_interval",
    "currency": "currency",
}

class MetricFilterError(UserInputError):
    """A filter names an unknown dimension or carries an unusable value."""


@dataclass(frozen=True)
class MetricFilters:
    """Which accounts and months a metric covers; empty means no restriction.

    Attributes:
        start: First month shown (any day of it; inclusive).
        end: Last month shown (any day of it; inclusive).
        segment, country, tier, billing_interval, currency: Accepted values of each
            dimension (see ``DIMENSIONS``); an empty tuple accepts everything.
    """

    start: date | None = None
    end: date | None = None
    segment: tuple[str, ...] = field(default=())
    country: tuple[str, ...] = field(default=())
    tier: tuple[str, ...] = field(default=())
    billing_interval: tuple[str, ...] = field(default=())
    currency: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        """Check every dimension is a sequence of strings and store it as a tuple."""
        for name in DIMENSIONS:
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise MetricFilterError(f"filter {name}: expected a sequence of strings, "
                                        f"got {values!r}")
            object.__setattr__(self, name, tuple(values))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, date):
                raise MetricFilterError(f"filter {name}: expected a date, got {value!r}")
        if self.start and self.end and month_of(self.start) > month_of(self.end):
            raise MetricFilterError(f"filter: start {self.start} is after end {self.end}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> MetricFilters:
        """Filters from a mapping such as a form's value; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MetricFilterError(
                f"unknown filter dimension(s) {', '.join(map(repr, unknown))}; "
                f"allowed: start, end, {', '.join(DIMENSIONS)}"
            )
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key in DIMENSIONS:
                clean[key] = tuple(value or ())
            else:
                clean[key] = value
        return cls(**clean)

    def dimension_values(self) -> dict[str, tuple[str, ...]]:
        """The dimensions that restrict anything, with their accepted values."""
        return {name: getattr(self, name) for name in DIMENSIONS if getattr(self, name)}

    @property
    def restricts_accounts(self) -> bool:
        """Whether any dimension filter narrows the set of accounts."""
        return bool(self.dimension_values())

    def describe(self) -> str:
        """One human line, for captions and reports."""
        parts = [f"{name} in ({', '.join(values)})"
                 for name, values in self.dimension_values().items()]
        if self.start or self.end:
            parts.append(f"months {self.start or '...'} to {self.end or '...'}")
        return "; ".join(parts) if parts else "all accounts, all months"

    def describe_accounts(self) -> str:
        """The accounts the filters select, in one line ("all accounts" when any)."""
        return "; ".join(f"{name} in ({', '.join(values)})"
                         for name, values in self.dimension_values().items()) or "all accounts"


def month_of(day: date) -> date:
    """The first day of the month of ``day``."""
    return day.replace(day=1)
