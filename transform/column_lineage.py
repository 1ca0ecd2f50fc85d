"""Column lineage: which upstream columns each Silver and Gold column is computed from.

Read from the artifacts of the last build (``manifest.json`` in ``warehouse/dbt_target``,
``transform.artifacts``): every model's compiled SQL, its declared columns and its place in
the graph. ``sqlglot.lineage`` (DuckDB dialect) traces each output column of a model
through its CTEs, subqueries, ``select *`` and window functions to the columns of its
direct parents (models or Bronze sources); walking those edges upward gives the full chain
of a Gold column down to Bronze and then to the landing contract (``ingestion.contract``):
a Bronze column keeps its landing field's name, and the lineage columns (``_batch_id``,
``_source_file``, ...) and the ``ingestion_date`` partition are set by the loader.

sqlglot needs every relation's columns to expand ``select *``: a model's come from the
columns its YAML declares (``dbt/models/**/_*__models.yml``; Gold has enforced contracts),
or, for a model that declares none, from its own compiled SQL parsed against its parents;
a Bronze entity's are the landing contract's fields plus the loader's columns; the
manifest's ``batches`` table's come from ``ingestion.manifest``. Only the expression that
computes a column counts (``where``, ``join ... on``, ``group by`` and ``qualify`` filter
rows, they are not inputs of the value); an expression without any column input (a
literal, ``count(*)``) is listed as a constant of its column. Parsed results are cached
per manifest file (its path, inode, size and modification time), so repeated calls are cheap.

Relations are named as ``lakehouse sql`` names them: ``gold.<model>``, ``silver.<model>``,
``bronze.<entity>`` and ``meta.batches``; a landing field (and a loader column of an
entity) is ``landing.<source>/<entity>.<field>``, a column the loader records in the
ingestion manifest ``loader.batches.<column>``.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.schema import MappingSchema

from ingestion.contract import ENTITIES, LINEAGE_COLUMNS, Entity
from ingestion.manifest import Manifest
from lakecore.errors import CorruptFileError, UserInputError
from lakecore.files import replace_text
from lakecore.settings import Settings
from transform.artifacts import MANIFEST, artifact_dirs
from transform.warehouse import WarehouseNotBuiltError

#: The SQL dialect of the compiled models.
DIALECT = "duckdb"
#: The file ``write_lineage_docs`` writes next to the dbt docs site.
DOCS_FILE = "lineage.md"
#: How many close matches an unknown table or column error names.
CLOSE_MATCHES = 3
#: How many known names an unknown name error lists when none is close.
KNOWN_LISTED = 20
#: The Bronze hive partition column every entity view adds (``macros/register_bronze.sql``).
PARTITION_COLUMN = "ingestion_date"
#: What the loader writes into each lineage column (``ingestion.contract.LINEAGE_COLUMNS``).
LOADER_NOTES = {
    "_batch_id": "SHA-256 of the landing file's bytes",
    "_source_file": "the landing file's path, relative to the landing zone",
    "_line_number": "the record's 1-based line in the landing file",
    "_export_date": "the landing file's <export_date> folder",
    "_ingested_at": "when the loader committed the batch",
    "_extra": "JSON object of the fields the contract does not know",
    PARTITION_COLUMN: "Bronze's hive partition: the landing file's <export_date> folder",
}
#: The dbt source of the ingestion manifest, and the name ``lakehouse sql`` gives it.
MANIFEST_SOURCE = ("lakehouse", "batches")
MANIFEST_RELATION = "meta.batches"
#: Where the columns of the manifest's batches table come from.
MANIFEST_ORIGIN = "loader.batches"
#: Kinds of a ``LineageNode``.
KINDS = ("model", "source", "landing", "loader")


@dataclass(frozen=True, order=True)
class ColumnRef:
    """One column of one relation, e.g. ``gold.saas_kpis_monthly`` / ``mrr_usd``."""

    relation: str
    column: str

    def __str__(self) -> str:
        """``<relation>.<column>``, e.g. ``silver.stg_billing__plans.unit_amount_minor``."""
        return f"{self.relation}.{self.column}"


@dataclass(frozen=True)
class ModelLineage:
    """Every output column of one model and what it is computed from.

    ``upstream`` maps each output column (in the model's select order) to the columns of
    its direct parents it is computed from; ``constants`` to the inputs that are no column
    (a literal, ``count(*)``); ``unresolved`` to what sqlglot could not trace, and why.
    """

    model: str
    relation: str
    upstream: dict[str, tuple[ColumnRef, ...]]
    constants: dict[str, tuple[str, ...]]
    unresolved: dict[str, tuple[str, ...]]


@dataclass(eq=False)
class LineageNode:
    """One column of a lineage chain and the nodes of the columns it is computed from.

    ``kind`` is ``model`` (a Silver or Gold column), ``source`` (a Bronze column),
    ``landing`` (a field of the landing contract) or ``loader`` (a value the loader sets,
    such as ``_batch_id``). Nodes are shared: a column reached twice is one node.
    """

    ref: ColumnRef
    kind: str
    layer: str
    note: str = ""
    constants: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    upstream: list[LineageNode] = field(default_factory=list)

    def walk(self) -> Iterator[LineageNode]:
        """This node and every node upstream of it, each once, depth first."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            stack.extend(reversed(node.upstream))


@dataclass(frozen=True)
class _Relation:
    """A model or source of the manifest, under the name ``lakehouse sql`` gives it."""

    name: str
    kind: str
    layer: str
    node: dict[str, Any]
    columns: tuple[str, ...]
    entity: Entity | None = None


class LineageGraph:
    """The models and sources of one manifest, with each model's lineage parsed lazily."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        """Index the models and sources of a parsed ``manifest.json``."""
        self.manifest = manifest
        self.relations: dict[str, _Relation] = {}
        self._by_table: dict[tuple[str, str, str], str] = {}
        self._models: dict[str, ModelLineage] = {}
        self._lock = threading.Lock()
        for node in manifest.get("sources", {}).values():
            self._add(_source_relation(node), node)
        models = [n for n in manifest.get("nodes", {}).values()
                  if n.get("resource_type") == "model"]
        for node in models:
            self._add(_Relation(f"{node['database']}.{node.get('alias') or node['name']}",
                                "model", node["database"], node, tuple(node.get("columns", {}))),
                      node)
        self.schema = MappingSchema(dialect=DIALECT)
        for rel in self.relations.values():
            if rel.columns:
                self._add_schema(rel, rel.columns)
        for node in models:
            self._infer_columns(self.model_relation(node["name"]).name, set())

    # Relations ---------------------------------------------------------------------------
    def _add(self, rel: _Relation, node: dict[str, Any]) -> None:
        self.relations[rel.name] = rel
        table = exp.to_table(node["relation_name"], dialect=DIALECT)
        self._by_table[_table_key(table)] = rel.name

    def _add_schema(self, rel: _Relation, columns: tuple[str, ...]) -> None:
        table = exp.to_table(rel.node["relation_name"], dialect=DIALECT)
        self.schema.add_table(table, dict.fromkeys(columns, "unknown"), dialect=DIALECT)

    def _infer_columns(self, name: str, visiting: set[str]) -> None:
        """Give a model that declares no column the columns its compiled SQL selects.

        Its parents are inferred first, so its ``select *`` expands; its parsed lineage
        is kept.
        """
        rel = self.relations[name]
        if rel.columns or name in visiting:
            return
        visiting.add(name)
        for parent in rel.node.get("depends_on", {}).get("nodes", []):
            parent_name = self._name_of_unique_id(parent)
            if parent_name is not None:
                self._infer_columns(parent_name, visiting)
        try:
            parsed = self._parse_model(rel)
        except WarehouseNotBuiltError:  # not compiled: model_lineage raises it when asked
            return
        self._models[name] = parsed
        columns = tuple(parsed.upstream)
        self.relations[name] = rel = _Relation(rel.name, rel.kind, rel.layer, rel.node, columns)
        if columns:
            self._add_schema(rel, columns)

    def _name_of_unique_id(self, unique_id: str) -> str | None:
        return next((r.name for r in self.relations.values()
                     if r.node.get("unique_id") == unique_id), None)

    def model_relation(self, model: str) -> _Relation:
        """The model called ``model`` (``saas_kpis_monthly`` or ``gold.saas_kpis_monthly``).

        Raises:
            UserInputError: No such model; the message names close matches.
        """
        models = {r.name: r for r in self.relations.values() if r.kind == "model"}
        if model in models:
            return models[model]
        by_short = {r.name.split(".", 1)[1]: r for r in models.values()}
        if model in by_short:
            return by_short[model]
        raise UserInputError(_unknown("model", model, [*models, *by_short]))

    def compiled_sql(self, rel: _Relation) -> str:
        """The compiled SQL of a model: from the manifest, else from its compiled file.

        Raises:
            WarehouseNotBuiltError: The last dbt run compiled neither.
        """
        code = rel.node.get("compiled_code")
        if code:
            return str(code)
        path = rel.node.get("compiled_path")
        if path and Path(path).is_file():
            return Path(path).read_text(encoding="utf-8")
        raise WarehouseNotBuiltError(
            f"the dbt manifest has no compiled SQL for {rel.name}: run `lakehouse build` "
            "(a build without --select compiles every model)")

    # Lineage of a model ------------------------------------------------------------------
    def model_lineage(self, model: str) -> ModelLineage:
        """Every output column of ``model`` and the columns of its parents it comes from."""
        rel = self.model_relation(model)
        with self._lock:
            cached = self._models.get(rel.name)
        if cached is not None:
            return cached
        result = self._parse_model(rel)
        with self._lock:
            self._models[rel.name] = result
        return result

    def _parse_model(self, rel: _Relation) -> ModelLineage:
        sql = self.compiled_sql(rel)
        try:
            nodes = lineage(None, sql, schema=self.schema, dialect=DIALECT)
        except (SqlglotError, ValueError) as exc:  # ValueError: a set operation it cannot map
            reason = f"sqlglot could not parse {rel.name}: {str(exc).splitlines()[0]}"
            return ModelLineage(rel.node["name"], rel.name, dict.fromkeys(rel.columns, ()),
                                dict.fromkeys(rel.columns, ()),
                                dict.fromkeys(rel.columns, (reason,)))
        upstream: dict[str, tuple[ColumnRef, ...]] = {}
        constants: dict[str, tuple[str, ...]] = {}
        unresolved: dict[str, tuple[str, ...]] = {}
        for column, node in nodes.items():
            refs, consts, unknown = self._leaves(node, rel)
            upstream[column], constants[column], unresolved[column] = refs, consts, unknown
        return ModelLineage(rel.node["name"], rel.name, upstream, constants, unresolved)

    def _leaves(self, node: Node, rel: _Relation
                ) -> tuple[tuple[ColumnRef, ...], tuple[str, ...], tuple[str, ...]]:
        """The parent columns, constants and unresolved inputs at the ends of ``node``."""
        refs: set[ColumnRef] = set()
        constants: set[str] = set()
        unresolved: set[str] = set()
        for leaf in node.walk():
            if leaf.downstream:
                continue
            expression = leaf.expression
            if leaf.name.endswith("*"):
                unresolved.add(f"select * over {expression.sql(dialect=DIALECT)} whose "
                               "columns are unknown")
            elif isinstance(expression, exp.Table):
                name = self._by_table.get(_table_key(expression))
                if name is None:
                    unresolved.add(f"{leaf.name}: {expression.sql(dialect=DIALECT)} is no "
                                   "model or source of the manifest")
                else:
                    refs.add(ColumnRef(name, _column_name(leaf.name)))
            elif isinstance(expression, exp.Placeholder):
                unresolved.add(f"{leaf.name}: no relation in {rel.name} provides it")
            else:
                value = expression.this if isinstance(expression, exp.Alias) else expression
                constants.add(value.sql(dialect=DIALECT))
        return tuple(sorted(refs)), tuple(sorted(constants)), tuple(sorted(unresolved))

    # Chains ------------------------------------------------------------------------------
    def resolve(self, spec: str) -> ColumnRef:
        """The column ``<layer>.<table>.<column>`` names, checked against the manifest.

        Raises:
            UserInputError: The spec is malformed, or names an unknown table or column;
                the message names close matches.
        """
        parts = spec.strip().split(".")
        if len(parts) != len(("layer", "table", "column")) or not all(parts):
            raise UserInputError(f"{spec!r} is not <layer>.<table>.<column>, e.g. "
                                 "gold.saas_kpis_monthly.mrr_usd")
        relation, column = f"{parts[0]}.{parts[1]}".lower(), parts[2].lower()
        rel = self.relations.get(relation)
        if rel is None:
            raise UserInputError(_unknown("table", relation, list(self.relations)))
        columns = self.columns(rel.name)
        if column not in columns:
            raise UserInputError(
                _unknown("column", f"{relation}.{column}", [f"{relation}.{c}" for c in columns]))
        return ColumnRef(relation, column)

    def columns(self, relation: str) -> tuple[str, ...]:
        """The columns of a relation: a model's as its SQL selects them."""
        rel = self.relations[relation]
        if rel.kind == "model":
            return tuple(self.model_lineage(rel.name).upstream)
        return rel.columns

    def chain(self, ref: ColumnRef) -> LineageNode:
        """The lineage tree of ``ref``, down to the landing contract and the loader."""
        return self._node(ref, {})

    def _node(self, ref: ColumnRef, memo: dict[ColumnRef, LineageNode]) -> LineageNode:
        if ref in memo:
            return memo[ref]
        rel = self.relations[ref.relation]
        node = memo[ref] = LineageNode(ref, rel.kind, rel.layer)
        if rel.kind == "model":
            parsed = self.model_lineage(rel.name)
            node.constants = parsed.constants.get(ref.column, ())
            node.unresolved = parsed.unresolved.get(ref.column, ())
            node.upstream = [self._node(r, memo) for r in parsed.upstream.get(ref.column, ())]
        elif rel.entity is not None:
            node.upstream = [_landing_node(rel.entity, ref.column)]
        else:
            node.upstream = [LineageNode(
                ColumnRef(MANIFEST_ORIGIN, ref.column), "loader", "loader",
                "set by the loader: recorded for each committed batch in the ingestion "
                "manifest")]
        return node


# Building the graph --------------------------------------------------------------------
def _source_relation(node: dict[str, Any]) -> _Relation:
    """A dbt source as a relation: a Bronze entity or the ingestion manifest."""
    declared = tuple(node.get("columns", {}))
    if (node["source_name"], node["name"]) == MANIFEST_SOURCE:
        known, _rows = Manifest(Path(":memory:")).table_dump("batches")
        columns = tuple(name for name, _decl in known)
        return _Relation(MANIFEST_RELATION, "source", "bronze", node,
                         _merge(columns, declared))
    ent = ENTITIES.get(f"{node['source_name']}/{node['name']}")
    columns = (*ent.column_names, *LINEAGE_COLUMNS, PARTITION_COLUMN) if ent else ()
    return _Relation(f"bronze.{node['name']}", "source", "bronze", node,
                     _merge(columns, declared), ent)


def _merge(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    """``first``, then the names of ``then`` it lacks, in order."""
    return (*first, *(c for c in then if c not in first))


def _landing_node(ent: Entity, column: str) -> LineageNode:
    """Where a Bronze column comes from: its landing field, or the loader."""
    ref = ColumnRef(f"landing.{ent.qualified}", column)
    if column in ent.column_names:
        col = ent.column(column)
        note = (f"landing field: {col.type}, {'required' if col.required else 'optional'}"
                f"{', personal data' if col.pii else ''}, {ent.format}")
        return LineageNode(ref, "landing", "landing", note)
    note = LOADER_NOTES.get(column, "not in the landing contract")
    return LineageNode(ref, "loader", "landing", f"set by the loader: {note}")


def _table_key(table: exp.Table) -> tuple[str, str, str]:
    return (table.catalog.lower(), table.db.lower(), table.name.lower())


def _column_name(leaf_name: str) -> str:
    """The column of a lineage leaf's name (``alias.column``, maybe quoted)."""
    try:
        parsed = sqlglot.parse_one(leaf_name, dialect=DIALECT)
    except SqlglotError:
        return leaf_name.rsplit(".", 1)[-1].strip('"')
    return parsed.name if isinstance(parsed, exp.Column) else leaf_name.rsplit(".", 1)[-1]


def _unknown(what: str, name: str, known: list[str]) -> str:
    """One line: ``name`` is unknown, with the closest of ``known``."""
    close = difflib.get_close_matches(name, known, n=CLOSE_MATCHES, cutoff=0.6)
    listed = sorted(known)[:KNOWN_LISTED]
    more = ", ..." if len(known) > len(listed) else ""
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(listed)}{more}"
    return f"unknown {what} {name}; {hint}"


# The cache -----------------------------------------------------------------------------
_GRAPHS: dict[Path, tuple[tuple[int, int, int], LineageGraph]] = {}
_GRAPHS_LOCK = threading.Lock()


def manifest_path(settings: Settings) -> Path:
    """Where the last build of this lakehouse root wrote dbt's manifest."""
    return artifact_dirs(settings)[0] / MANIFEST


def load_graph(settings: Settings) -> LineageGraph:
    """The lineage graph of the root's last build, parsed once per manifest file.

    Raises:
        WarehouseNotBuiltError: The root has no dbt manifest yet (run ``lakehouse build``).
        CorruptFileError: The manifest is not valid JSON.
    """
    path = manifest_path(settings)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise WarehouseNotBuiltError(
            f"no dbt manifest in {settings.root} yet (expected {path}): run "
            "`lakehouse build` first") from None
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _GRAPHS_LOCK:
        cached = _GRAPHS.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError("the dbt manifest", path, str(exc),
                               "run `lakehouse build` to write it again") from None
    graph = LineageGraph(manifest)
    with _GRAPHS_LOCK:
        _GRAPHS[path] = (key, graph)
    return graph


# Public API ----------------------------------------------------------------------------
def direct_upstream(settings: Settings, model: str) -> dict[str, list[ColumnRef]]:
    """Each output column of a model and the columns of its direct parents it comes from.

    Args:
        settings: A built lakehouse root.
        model: A model name, with or without its layer (``gold.saas_kpis_monthly``).

    Returns:
        Output columns in the model's select order; each maps to sorted parent columns
        (empty for a column computed from constants only, see ``model_lineage``).

    Raises:
        WarehouseNotBuiltError: No manifest yet, or no such model (close matches named).
    """
    parsed = load_graph(settings).model_lineage(model)
    return {column: list(refs) for column, refs in parsed.upstream.items()}


def model_lineage(settings: Settings, model: str) -> ModelLineage:
    """``direct_upstream`` with each column's constants and unresolved inputs."""
    return load_graph(settings).model_lineage(model)


def column_chain(settings: Settings, column: str) -> LineageNode:
    """The lineage of one column, all the way down to the landing contract.

    Args:
        settings: A built lakehouse root.
        column: ``<layer>.<table>.<column>``, e.g. ``gold.saas_kpis_monthly.mrr_usd``.

    Returns:
        The column's node; its ``upstream`` nodes lead through Silver and Bronze to the
        landing fields and loader columns it is computed from.

    Raises:
        WarehouseNotBuiltError: No manifest yet, or an unknown table or column (one line
            naming close matches).
    """
    graph = load_graph(settings)
    return graph.chain(graph.resolve(column))


def landing_fields(node: LineageNode) -> list[ColumnRef]:
    """The landing fields and loader columns at the ends of a chain, sorted."""
    return sorted({n.ref for n in node.walk() if n.kind in ("landing", "loader")})


def constant_inputs(node: LineageNode) -> dict[ColumnRef, tuple[str, ...]]:
    """Every column of a chain that has inputs that are no column, and those inputs."""
    return {n.ref: n.constants for n in node.walk() if n.constants}


# Rendering -----------------------------------------------------------------------------
def _label(node: LineageNode) -> str:
    parts = [str(node.ref)]
    if node.note:
        parts.append(f"  ({node.note})")
    return "".join(parts)


def _tree_lines(node: LineageNode, prefix: str, seen: set[int]) -> list[str]:
    """The lines below ``node``: constants, unresolved inputs, then upstream nodes."""
    items: list[tuple[str, LineageNode | None]] = [
        *((f"= {c}  (no column input)", None) for c in node.constants),
        *((f"? {u}", None) for u in node.unresolved),
        *(("", up) for up in node.upstream)]
    lines: list[str] = []
    for i, (text, child) in enumerate(items):
        last = i == len(items) - 1
        branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
        if child is None:
            lines.append(f"{prefix}{branch}{text}")
        elif id(child) in seen and child.upstream:
            lines.append(f"{prefix}{branch}{_label(child)}  (see above)")
        else:
            seen.add(id(child))
            lines.append(f"{prefix}{branch}{_label(child)}")
            lines += _tree_lines(child, prefix + indent, seen)
    return lines


def render_tree(node: LineageNode) -> str:
    """The chain as an indented tree, one column per line.

    A column reached a second time is printed once more with ``(see above)`` instead of
    its subtree again.
    """
    return "\n".join([_label(node), *_tree_lines(node, "", {id(node)})])


def render_text(node: LineageNode) -> str:
    """``render_tree``, then the landing fields and loader columns the chain ends at."""
    lines = [render_tree(node)]
    fields = landing_fields(node)
    if fields:
        lines += ["", "landing fields and loader columns:"]
        lines += [f"  {ref}" for ref in fields]
    return "\n".join(lines)


def to_json(node: LineageNode) -> dict[str, Any]:
    """The chain as JSON-able data: every node once, keyed by its column, with edges.

    Returns:
        ``{"column": ..., "landing": [...], "nodes": {column: {"relation", "column",
        "kind", "layer", "note", "constants", "unresolved", "upstream": [columns]}}}``.
    """
    return {
        "column": str(node.ref),
        "landing": [str(ref) for ref in landing_fields(node)],
        "nodes": {str(n.ref): {"relation": n.ref.relation, "column": n.ref.column,
                               "kind": n.kind, "layer": n.layer, "note": n.note,
                               "constants": list(n.constants),
                               "unresolved": list(n.unresolved),
                               "upstream": [str(u.ref) for u in n.upstream]}
                  for n in node.walk()},
    }


# The docs page -------------------------------------------------------------------------
def gold_tables(graph: LineageGraph) -> list[str]:
    """The Gold models of a graph, sorted (``gold.<model>``)."""
    return sorted(r.name for r in graph.relations.values()
                  if r.kind == "model" and r.layer == "gold")


def render_docs(settings: Settings) -> str:
    """The column lineage of every Gold column, as one Markdown page.

    One section per Gold table, one subsection per column: its direct upstream columns,
    the landing fields it comes from and its whole chain as a text tree.
    """
    graph = load_graph(settings)
    generated = graph.manifest.get("metadata", {}).get("generated_at", "?")
    tables = gold_tables(graph)
    lines = ["# Column lineage of Gold", "",
             f"Every Gold column, traced by sqlglot through the compiled dbt models of the "
             f"build of {generated} down to Bronze and the landing contract "
             "(docs/reference/column-lineage.md explains how). "
             "`lakehouse lineage gold.<table>.<column>` prints one of them.", "",
             "Tables: " + ", ".join(f"`{t}`" for t in tables), ""]
    for table in tables:
        lines += _docs_table(graph, table)
    return "\n".join(lines) + "\n"


def _docs_table(graph: LineageGraph, table: str) -> list[str]:
    parsed = graph.model_lineage(table)
    description = graph.relations[table].node.get("description", "").strip()
    lines = [f"## {table}", "", *([description, ""] if description else [])]
    for column, refs in parsed.upstream.items():
        chain = graph.chain(ColumnRef(table, column))
        direct = ", ".join(f"`{r}`" for r in refs) or "none (constants only)"
        fields = ", ".join(f"`{r}`" for r in landing_fields(chain)) or "none"
        lines += [f"### {table}.{column}", "", f"- Direct upstream: {direct}",
                  f"- Landing fields and loader columns: {fields}"]
        if parsed.constants.get(column):
            lines.append("- Constant inputs: "
                         + ", ".join(f"`{c}`" for c in parsed.constants[column]))
        lines += ["", "```text", render_tree(chain), "```", ""]
    return lines


def write_lineage_docs(settings: Settings, folder: Path) -> Path:
    """Write ``render_docs`` as ``lineage.md`` into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DOCS_FILE
    replace_text(path, render_docs(settings))
    return path
