"""How Bronze lies on disk: one folder per source, entity and ingestion date.

The loader commits each batch as one Parquet file under
``bronze/<source>/<entity>/ingestion_date=<YYYY-MM-DD>/<batch_id>.parquet``
(``Settings.bronze_partition``). This module only lists what is there, read-only, for
people looking at the layout (the ingest notebook); the manifest stays the record of
what was committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakecore.settings import Settings

PARTITION_KEY = "ingestion_date"


@dataclass(frozen=True)
class PartitionInfo:
    """One Bronze partition folder and the Parquet files in it.

    Attributes:
        source: The source system (first folder level, e.g. ``billing``).
        entity: The entity (second level, e.g. ``accounts``).
        ingestion_date: The partition value, ``YYYY-MM-DD`` as written in the folder name.
        folder: The folder relative to the data root.
        files: Number of ``*.parquet`` files directly in the folder.
        bytes: Their total size on disk.
    """

    source: str
    entity: str
    ingestion_date: str
    folder: str
    files: int
    bytes: int

    def as_row(self) -> dict[str, str | int]:
        """The folder, its file count and size: one row of the layout table."""
        return {"folder": self.folder, "files": self.files, "bytes": self.bytes}


def partition_layout(settings: Settings) -> list[PartitionInfo]:
    """Every Bronze partition folder with its file count and size.

    Args:
        settings: The lakehouse to look at.

    Returns:
        One entry per ``<source>/<entity>/ingestion_date=*`` folder, sorted by folder
        path; empty when Bronze does not exist yet. Folders without Parquet files are
        listed with 0 files.
    """
    if settings.store is not None:
        return _remote_layout(settings)
    bronze = settings.bronze
    if not bronze.exists():
        return []
    layout = []
    for folder in sorted(p for p in bronze.glob(f"*/*/{PARTITION_KEY}=*") if p.is_dir()):
        files = list(folder.glob("*.parquet"))
        layout.append(PartitionInfo(
            source=folder.parent.parent.name,
            entity=folder.parent.name,
            ingestion_date=folder.name.partition("=")[2],
            folder=str(folder.relative_to(settings.root)),
            files=len(files),
            bytes=sum(f.stat().st_size for f in files),
        ))
    return layout


def _remote_layout(settings: Settings) -> list[PartitionInfo]:
    """``partition_layout`` of a Bronze in object storage: one LIST of ``bronze/``."""
    assert settings.store is not None
    folders: dict[tuple[str, str, str], list[int]] = {}
    for name, size in settings.store.listing("bronze").items():
        parts = name.split("/")
        if len(parts) != 5 or not parts[3].startswith(f"{PARTITION_KEY}="):
            continue
        sizes = folders.setdefault((parts[1], parts[2], parts[3]), [])
        if parts[4].endswith(".parquet"):
            sizes.append(size)
    return [PartitionInfo(source=source, entity=entity,
                          ingestion_date=folder.partition("=")[2],
                          folder=f"bronze/{source}/{entity}/{folder}", files=len(sizes),
                          bytes=sum(sizes))
            for (source, entity, folder), sizes in sorted(folders.items())]
