"""Helpers shared by the tests (plain functions and constants, no pytest fixtures).

``tests.helpers.landing``    landing-file writers and Bronze/quarantine readers (ingest tests)
``tests.helpers.lakehouse``  landing-file builders and Gold readers (dbt build tests)
``tests.helpers.notebooks``  running notebooks and servers in subprocesses
``tests.helpers.disk``       a real small tmpfs for the disk-full tests
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (the working directory of every subprocess the tests start).
PROJECT = Path(__file__).resolve().parents[2]
TESTS = PROJECT / "tests"
FIXTURES = TESTS / "fixtures"
#: The hand-made landing zone the reference metrics are computed on by hand.
KITCHEN_SINK = FIXTURES / "metrics" / "kitchen_sink" / "landing"
#: The independent reference implementation of the Gold metrics (the test oracle).
REFERENCE = TESTS / "reference"
