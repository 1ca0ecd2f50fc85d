"""Layer 0, the shared core: settings and paths, errors, the pipeline lock, DuckDB connections.

Everything else imports from here; this package imports nothing of the project.
"""
