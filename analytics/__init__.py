"""Layer 3, reading Gold: the Ibis metric layer, read-only SQL, reports and the summary.

Imports only from ``lakecore``, ``ingestion`` and ``transform``.
"""
