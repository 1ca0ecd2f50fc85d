"""Helpers the marimo notebooks share (``notebooks/``): display glue, no business logic.

The notebooks only wire widgets to library calls (ADR 0011); what several of them need
to show a library call's progress lives here instead of being copied into each one.
"""

from __future__ import annotations

from collections.abc import Callable

import marimo as mo

from analytics.filters import DIMENSIONS
from analytics.metrics import FilterOptions, fetch_filter_options
from lakecore.errors import LakehouseError
from lakecore.settings import Settings


def live_log(title: str, lines: int = 25) -> Callable[[str], None]:
    """A progress callback that shows the last lines of a running step in the cell.

    Pass it as ``progress=`` to a long library call (``pipeline.run``, ``ingest``,
    ``build``): every line it receives replaces the running cell's output with the title
    and the most recent lines.

    Args:
        title: Shown in bold above the lines, followed by "(running)".
        lines: How many of the most recent lines to show.

    Returns:
        A callable taking one progress line (anything, shown as ``str(line)``).
    """
    seen: list[str] = []

    def say(line: str) -> None:
        seen.append(str(line))
        mo.output.replace(mo.vstack([mo.md(f"**{title}** (running)"),
                                     mo.plain_text("\n".join(seen[-lines:]))]))

    return say


def dimension_label(name: str) -> str:
    """A filter dimension's widget label: ``"billing_interval"`` -> ``"Billing interval"``.

    Args:
        name: A dimension of the metric layer (``analytics.metrics.DIMENSIONS``).

    Returns:
        The name with spaces for underscores, first letter capitalised.
    """
    return name.replace("_", " ").capitalize()


#: The dropdown entry that means "no filter on this dimension".
ALL = "(all)"


def chosen(value: str | None) -> tuple[str, ...]:
    """A filter dropdown's value as filter values: nothing for ``ALL``.

    Args:
        value: The dropdown's value.

    Returns:
        ``()`` for ``ALL`` or None, else ``(value,)``.
    """
    return () if value in (None, ALL) else (str(value),)


def filter_options(settings: Settings) -> tuple[FilterOptions | None, str | None]:
    """The dashboard filters' options, or None and the reason Gold cannot be read.

    Args:
        settings: The lakehouse.

    Returns:
        ``(options, None)``, or ``(None, message)`` when Gold is not available.
    """
    try:
        return fetch_filter_options(settings), None
    except LakehouseError as err:
        return None, str(err)


def dimension_dropdowns(options: FilterOptions | None) -> mo.ui.dictionary:
    """One dropdown per filter dimension, ``ALL`` first, then the values Gold holds.

    Args:
        options: From ``filter_options`` (None: dropdowns offering only ``ALL``).

    Returns:
        A ``mo.ui.dictionary`` keyed by dimension name.
    """
    values = options.values if options else {}
    return mo.ui.dictionary({
        name: mo.ui.dropdown([ALL, *values.get(name, [])], value=ALL,
                             label=dimension_label(name))
        for name in DIMENSIONS
    })


def gold_unavailable(problem: str | None) -> object:
    """The callout a notebook shows when the published Gold cannot be read, or None.

    Args:
        problem: The error message (``LakehouseError``) or None when Gold is readable.

    Returns:
        A warning callout naming the problem and how to build Gold, or None.
    """
    if not problem:
        return None
    return mo.callout(
        mo.md(f"**Gold is not available yet.** {problem}\n\n"
              "Run the pipeline from `00_start_here` (or `make full-pipeline`)."),
        kind="warn",
    )
