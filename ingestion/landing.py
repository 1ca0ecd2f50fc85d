"""Find landing files safely: the landing contract's layout, and nothing outside the zone.

The layout (docs/reference/landing-contract.md):

``<landing>/<source>/<entity>/<export_date>/<file>.csv|.jsonl``. Every candidate is
checked before a byte of it is read: it must resolve inside the landing zone (no ``..``,
no absolute path elsewhere, no symlink leading out), sit at the right depth with a known
source and entity and a real calendar date, and carry the entity's extension.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingestion.contract import ENTITIES, FORMATS, Entity
from lakecore.errors import HostilePathError

IGNORED_PREFIXES = (".", "_", "~")


@dataclass(frozen=True)
class LandingFile:
    """A landing file whose place in the layout is valid."""

    path: Path
    relative: str  # POSIX path relative to the landing zone
    entity: Entity
    export_date: str

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        """Load order: export date, then source, entity and relative path."""
        return (self.export_date, self.entity.source, self.entity.name, self.relative)


@dataclass(frozen=True)
class LayoutProblem:
    """A file in the landing zone that is not a valid landing file; it is never read."""

    relative: str
    reason: str
    source: str | None = None
    entity: str | None = None
    export_date: str | None = None


def _inside(child: Path, root: Path) -> bool:
    try:
        child.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_inside(landing: Path, candidate: str | os.PathLike[str]) -> Path:
    """Resolve a user-given path and refuse it unless it stays inside the landing zone."""
    root = landing.resolve()
    text = os.fspath(candidate)
    raw = Path(text)
    if ".." in raw.parts:
        raise HostilePathError(text, "parent-directory components ('..') are not allowed")
    full = raw if raw.is_absolute() else root / raw
    if not _inside(full, root):
        raise HostilePathError(text, f"outside the landing zone {root}")
    if not _inside(full.resolve(), root):
        raise HostilePathError(text, "a symlink leads outside the landing zone")
    return full


def classify(landing: Path, path: Path) -> LandingFile | LayoutProblem:
    """Check one file's place in the layout (the path is already inside the zone)."""
    root = landing.resolve()
    relative = path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix()
    parts = relative.split("/")
    if path.is_symlink() and not _inside(path.resolve(), root):
        return LayoutProblem(relative, "a symlink leads outside the landing zone; not read")
    if len(parts) != 4:
        return LayoutProblem(
            relative, "not at <source>/<entity>/<export_date>/<file> in the landing zone"
        )
    source, name, export_date, file_name = parts
    ent = ENTITIES.get(f"{source}/{name}")
    if ent is None:
        return LayoutProblem(relative, f"unknown source/entity {source}/{name}", source, name)
    try:
        parsed = date.fromisoformat(export_date)
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != export_date:
        return LayoutProblem(relative, f"export date folder {export_date!r} is not YYYY-MM-DD",
                             source, name)
    extension = FORMATS[ent.format]
    if not file_name.endswith(extension):
        return LayoutProblem(
            relative, f"{ent.qualified} is delivered as {extension} files", source, name,
            export_date,
        )
    return LandingFile(path=path, relative=relative, entity=ent, export_date=export_date)


def discover(landing: Path) -> tuple[list[LandingFile], list[LayoutProblem]]:
    """Walk the landing zone without following symlinks; sort files by export date."""
    root = landing.resolve()
    files: list[LandingFile] = []
    problems: list[LayoutProblem] = []
    if not root.is_dir():
        return files, problems
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(IGNORED_PREFIXES))
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)
                problems.append(LayoutProblem(
                    (here / d).relative_to(root).as_posix(),
                    "symlinked folder in the landing zone; not followed",
                ))
        for name in sorted(filenames):
            if name.startswith(IGNORED_PREFIXES):
                continue
            result = classify(root, here / name)
            (files if isinstance(result, LandingFile) else problems).append(result)  # type: ignore[arg-type]
    files.sort(key=lambda f: f.sort_key)
    return files, problems
