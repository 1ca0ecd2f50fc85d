"""A deterministic simulator of the two source systems (``billing`` and ``app``).

``simulate`` writes a SaaS company's exports into a landing zone exactly as
``ingestion.contract`` / docs/reference/landing-contract.md describe them: one backfill export
holding every version before the daily period (split into monthly part files), then one export per
day. The same arguments always give byte-identical files. See ``core`` for the design.
"""

from __future__ import annotations

from ingestion.simulator.core import (
    DEFAULT_DAILY_DAYS,
    DEFAULT_END,
    DEFAULT_START,
    SimulationSummary,
    default_period,
    simulate,
    simulate_to,
)

__all__ = [
    "DEFAULT_DAILY_DAYS",
    "DEFAULT_END",
    "DEFAULT_START",
    "SimulationSummary",
    "default_period",
    "simulate",
    "simulate_to",
]
