"""Layer 1, landing to Bronze: the landing contract, discovery, validation, the manifest.

Also holds the source simulator. Imports only from ``lakecore``.
"""
