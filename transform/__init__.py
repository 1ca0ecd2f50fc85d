"""Layer 2, the Python face of ``dbt/``: run the build, keep the catalogs sound, publish.

Imports only from ``lakecore`` and ``ingestion`` (the landing contract).
"""
