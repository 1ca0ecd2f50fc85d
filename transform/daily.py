"""What a daily build must run: only the models downstream of the Bronze that changed.

After every successful build of the whole project, ``record`` keeps in
``warehouse/build_state.json`` what that build was built from: a digest of the committed
batches of each Bronze entity (and of the manifest's batch list as a whole, which the
as-of date is computed from), the project's fingerprint, whether its data tests ran, and
the publication it made. ``plan`` compares the next build's inputs with that record
(ADR 0023):

- nothing changed: the build runs no dbt node and publishes nothing (Gold stays the
  publication the record names);
- some entities received batches: the build selects only the models downstream of those
  entities and of the batch list (``source:<source>.<entity>+``); the other models'
  inputs are unchanged, so their tables and the outcome of their tests are too;
- anything else (no record, another project, a record made without tests when this build
  tests, a publication the record does not name): the whole project, as before.

Every model is a function of the project's files, the committed Bronze batches of its
upstream sources and, for an incremental model, its own previous rows: no model reads the
clock. That is what makes the selection equal to a build of everything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ingestion.manifest import BatchRecord, Manifest
from lakecore.files import replace_text
from lakecore.settings import Settings
from transform import warehouse

#: The dbt source the manifest's batch list is registered as (int_as_of_date reads it).
BATCHES_SOURCE = "lakehouse/batches"


@dataclass(frozen=True)
class Plan:
    """What one build runs: everything, a selection, or nothing."""

    #: A dbt selection of the models downstream of what changed; None: everything.
    select: str | None
    #: True when nothing changed since the recorded build: run no dbt node.
    skip: bool = False
    #: The Bronze entities (``source/entity``) that received or lost batches.
    changed: tuple[str, ...] = ()
    #: Why the build runs what it runs, for its progress line.
    reason: str = ""
    #: With a selection: the newest commit time the last build read. The rows an
    #: incremental model writes now are newer; tests configured with
    #: ``__written_since__`` check only those (macros/written_rows.sql).
    written_since: str | None = None


@dataclass(frozen=True)
class Inputs:
    """What a build reads from Bronze, as the manifest says before dbt starts."""

    #: ``source/entity`` (and ``lakehouse/batches``) -> digest of its committed batches.
    digests: dict[str, str]
    #: The newest commit time (``ingested_at``) of any committed batch.
    ingested_through: str | None


def state_path(settings: Settings) -> Path:
    """Where the record of the last whole-project build is kept."""
    return settings.warehouse / "build_state.json"


def read_inputs(settings: Settings) -> Inputs:
    """SHA-256 of the committed batches of every Bronze entity and of the batch list.

    A batch counts by its id, export date, Bronze file and that file's SHA-256, so a batch
    committed, forgotten or re-ingested changes its entity's digest.
    """
    batches = Manifest.open(settings, read_only=True).batches()
    by_entity: dict[str, list[BatchRecord]] = {}
    for batch in batches:
        by_entity.setdefault(f"{batch.source}/{batch.entity}", []).append(batch)
    digests = {name: _digest(records) for name, records in sorted(by_entity.items())}
    digests[BATCHES_SOURCE] = _digest(batches)
    return Inputs(digests, max((b.ingested_at for b in batches), default=None))


def _digest(records: list[BatchRecord]) -> str:
    digest = hashlib.sha256()
    for r in sorted(records, key=lambda b: b.batch_id):
        digest.update(f"{r.batch_id}\0{r.export_date}\0{r.bronze_file}\0{r.bronze_sha256}\0"
                      f"{r.landed_rows}\n".encode())
    return digest.hexdigest()


def _read_state(settings: Settings) -> dict[str, object] | None:
    try:
        state = json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def forget(settings: Settings) -> None:
    """Drop the record: the next build runs the whole project."""
    state_path(settings).unlink(missing_ok=True)


def plan(settings: Settings, *, fingerprint: str, inputs: Inputs, tests: bool) -> Plan:
    """What an incremental build of the whole project needs to run, given the record.

    Args:
        settings: The lakehouse.
        fingerprint: The dbt project's fingerprint (``transform.build.project_fingerprint``).
        inputs: ``read_inputs``, read under the pipeline lock before dbt starts.
        tests: Whether this build runs the data tests.

    Returns:
        Everything, a selection downstream of the changed entities, or nothing.
    """
    state = _read_state(settings) or {}
    published = warehouse.read_publications(settings) if state else []
    before = state.get("entities")
    why_everything = (
        "no record of a previous build" if not isinstance(before, dict)
        else "the dbt project changed since the last build"
        if state.get("project") != fingerprint
        else "the last build ran no data tests" if tests and not state.get("tested")
        else "Gold is not the publication of the last build"
        if not published or [published[-1].silver_snapshot, published[-1].gold_snapshot]
        != state.get("publication")
        else "")
    if why_everything or not isinstance(before, dict):
        return Plan(select=None, reason=why_everything)
    digests = inputs.digests
    changed = tuple(name for name in sorted(set(before) | set(digests))
                    if before.get(name) != digests.get(name))
    if not changed:
        return Plan(select=None, skip=True,
                    reason="no batch was committed since the last build")
    selectors = [f"source:{name.replace('/', '.')}+" for name in changed]
    since = state.get("ingested_through")
    return Plan(select=" ".join(selectors), changed=changed,
                reason=f"only what depends on {', '.join(changed)}",
                written_since=since if isinstance(since, str) else None)


def record(settings: Settings, *, fingerprint: str, inputs: Inputs, tested: bool,
           publication: warehouse.Publication) -> None:
    """Record a successful build of the whole project (temporary file, then rename)."""
    replace_text(state_path(settings), json.dumps({
        "project": fingerprint, "tested": tested, "entities": inputs.digests,
        "ingested_through": inputs.ingested_through,
        "publication": [publication.silver_snapshot, publication.gold_snapshot],
    }, indent=1) + "\n")


#: What a compiled node of dbt's manifest carries beyond what parsing gives it.
_COMPILED_FIELDS = ("compiled", "compiled_code", "compiled_path", "extra_ctes_injected",
                    "extra_ctes")


def read_compiled(target: Path) -> dict[str, dict[str, object]]:
    """The compiled SQL of every node of the last build's dbt manifest, by unique id.

    A selection compiles only what it selects; ``restore_compiled`` gives the rest of the
    manifest (read by the column lineage and the docs) the SQL of the previous build.
    """
    try:
        nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {uid: {"checksum": node.get("checksum"),
                  **{name: node.get(name) for name in _COMPILED_FIELDS}}
            for uid, node in nodes.items() if node.get("compiled_code")}


def restore_compiled(target: Path, previous: dict[str, dict[str, object]]) -> int:
    """Give every node the selection did not compile its previous compiled SQL.

    Only where the node's file checksum is unchanged (the project's fingerprint already
    is): its SQL compiles to the same text. The manifest is replaced by rename.

    Returns:
        How many nodes got their SQL back.
    """
    path = target / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    restored = 0
    for uid, node in manifest.get("nodes", {}).items():
        before = previous.get(uid)
        if node.get("compiled_code") or before is None \
                or before["checksum"] != node.get("checksum"):
            continue
        node.update({name: before[name] for name in _COMPILED_FIELDS})
        restored += 1
    if restored:
        replace_text(path, json.dumps(manifest))
    return restored
