"""Read the artifacts of the last dbt build: what ran, how it went, and the model graph.

``transform.build.build`` writes dbt's artifacts (``manifest.json``, ``run_results.json``)
to ``settings.warehouse / "dbt_target"``; a ``dbt`` run by hand from ``dbt/`` writes them
to ``dbt/target``, which is read when the warehouse holds none. Everything here is pure
reading and reshaping of those JSON documents into rows a table widget can show: no dbt
import, no connection, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from lakecore.settings import DBT_PROJECT_DIR, Settings

#: The artifacts this module reads.
MANIFEST = "manifest.json"
RUN_RESULTS = "run_results.json"
#: Layer of a model by its folder under ``dbt/models`` (the second element of its fqn).
LAYER_OF = {"staging": "Silver", "intermediate": "Silver", "marts": "Gold"}
#: ``run_results`` statuses that are not a pass.
NOT_PASSING = ("error", "fail", "warn")
#: Node kinds ``run_rows`` keeps (the first part of a result's ``unique_id``).
RUN_KINDS = ("model", "test", "unit_test")


class RunRow(TypedDict):
    """One model or test of a build, as ``run_rows`` returns it."""

    kind: str
    name: str
    status: str
    failures: int | None
    seconds: float
    message: str | None


class ModelRow(TypedDict):
    """One dbt model, as ``model_rows`` returns it."""

    model: str
    layer: str
    materialized: str | None
    description: str


def artifact_dirs(settings: Settings) -> tuple[Path, ...]:
    """The folders searched for dbt artifacts, in order of preference.

    Args:
        settings: The lakehouse whose build is read.

    Returns:
        ``settings.warehouse / "dbt_target"`` (where ``transform.build`` writes), then
        ``dbt/target`` (a ``dbt`` command run by hand).
    """
    return (settings.warehouse / "dbt_target", DBT_PROJECT_DIR / "target")


def load_artifact(settings: Settings, name: str) -> dict[str, Any] | None:
    """A dbt artifact of the last build, parsed.

    Args:
        settings: The lakehouse whose build is read.
        name: The artifact's file name, e.g. ``"manifest.json"`` or ``"run_results.json"``.

    Returns:
        The JSON document from the first folder of ``artifact_dirs`` that holds it, or
        None when no build wrote it yet.
    """
    for folder in artifact_dirs(settings):
        path = folder / name
        if path.exists():
            return json.loads(path.read_text())
    return None


def run_rows(run_results: dict[str, Any]) -> list[RunRow]:
    """One row per model and test of a build: status, failures, seconds, message.

    Args:
        run_results: A parsed ``run_results.json``.

    Returns:
        Rows in the order dbt ran the nodes; seeds, snapshots and other kinds are left
        out. ``name`` is the ``unique_id`` without its kind and project (for example
        ``stg_billing__accounts`` or ``not_null_dim_accounts_account_id``); ``seconds``
        is the execution time rounded to hundredths.
    """
    rows: list[RunRow] = []
    for item in run_results.get("results", []):
        kind, _, rest = item["unique_id"].partition(".")
        if kind not in RUN_KINDS:
            continue
        rows.append({"kind": kind, "name": rest.split(".", 1)[-1], "status": item["status"],
                     "failures": item.get("failures"),
                     "seconds": round(item.get("execution_time") or 0, 2),
                     "message": item.get("message")})
    return rows


def not_passing(rows: list[RunRow]) -> list[RunRow]:
    """The rows of ``run_rows`` whose status is an error, a failure or a warning.

    Args:
        rows: Rows from ``run_rows``.

    Returns:
        The rows with status in ``NOT_PASSING``, in their order.
    """
    return [r for r in rows if r["status"] in NOT_PASSING]


def lineage_nodes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The nodes of the model graph: every source and every model of a manifest.

    Args:
        manifest: A parsed ``manifest.json``.

    Returns:
        Manifest entries by ``unique_id`` (tests, seeds and the rest left out).
    """
    return {**manifest.get("sources", {}),
            **{k: v for k, v in manifest.get("nodes", {}).items()
               if v.get("resource_type") == "model"}}


def lineage_edges(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The edges of the model graph: (parent, child) ``unique_id`` pairs.

    Args:
        manifest: A parsed ``manifest.json``.

    Returns:
        One pair per dependency of a model on a source or another model, children in
        ``unique_id`` order and each child's parents in the manifest's order.
    """
    nodes = lineage_nodes(manifest)
    return [(parent, key) for key, node in sorted(nodes.items())
            for parent in node.get("depends_on", {}).get("nodes", []) if parent in nodes]


def lineage_mermaid(manifest: dict[str, Any]) -> str:
    """The model graph (sources -> Silver -> Gold) as a Mermaid flowchart.

    Args:
        manifest: A parsed ``manifest.json``.

    Returns:
        A ``graph LR`` chart: sources as cylinders labelled ``source.table``, models as
        boxes labelled with their name, an arrow from each parent to its child.
    """
    nodes = lineage_nodes(manifest)
    ids = {key: f"n{i}" for i, key in enumerate(sorted(nodes))}
    lines = ["graph LR"]
    for key, node in sorted(nodes.items()):
        if node["resource_type"] == "source":
            lines.append(f'  {ids[key]}[("{node["source_name"]}.{node["name"]}")]')
        else:
            lines.append(f'  {ids[key]}["{node["name"]}"]')
    lines += [f"  {ids[parent]} --> {ids[child]}" for parent, child in lineage_edges(manifest)]
    return "\n".join(lines)


def model_rows(manifest: dict[str, Any]) -> list[ModelRow]:
    """One row per model of a manifest: name, layer, materialization, description.

    Args:
        manifest: A parsed ``manifest.json``.

    Returns:
        Rows sorted by layer, then model name. ``layer`` is Silver or Gold by the
        model's folder (``LAYER_OF``), else the folder's name.
    """
    rows: list[ModelRow] = [
        {"model": n["name"], "layer": LAYER_OF.get(n["fqn"][1], n["fqn"][1]),
         "materialized": n["config"].get("materialized"),
         "description": n.get("description", "")}
        for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"
    ]
    return sorted(rows, key=lambda m: (m["layer"], m["model"]))
