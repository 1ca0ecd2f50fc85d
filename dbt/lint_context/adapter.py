"""A stand-in for dbt's ``adapter`` when sqlfluff renders the project (``.sqlfluff``).

sqlfluff's Jinja templater has no adapter; the models call the cross-engine macros
(``macros/cross_engine.sql``), which ``adapter.dispatch`` to an engine's implementation.
For linting, ``dispatch`` returns the DuckDB one (``duckdb__<name>``, else
``default__<name>``), so the SQL that sqlfluff checks is the SQL DuckDB runs.
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context


@pass_context
def dispatch(context: Context, macro_name: str, macro_namespace: str | None = None) -> Any:
    """The DuckDB implementation of ``macro_name`` among the macros sqlfluff loaded."""
    del macro_namespace  # one project: every dispatched macro is its own
    for prefix in ("duckdb__", "default__"):
        found = context.get(prefix + macro_name)
        if found is not None:
            return found
    raise KeyError(f"no duckdb__ or default__ implementation of {macro_name}")
