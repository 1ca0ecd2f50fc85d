"""The repository stands alone: a clone holds everything its files refer to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
#: Text that points outside a clone: the brief's folder beside the project, or a path of
#: the machine the project was built on.
OUTSIDE = re.compile(r"\.\./shared\b|/work/|\bshared/spec\b|\bshared/STACK\.md")
#: A relative Markdown link: ``[text](target)``, without a scheme or an anchor-only target.
LINK = re.compile(r"\[[^\]]*\]\((?![a-z]+:|#)([^)\s]+)\)")


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    files = []
    for name in filter(None, names):
        path = PROJECT / name
        if path.is_file() and b"\0" not in path.read_bytes()[:4096]:
            files.append(path)
    return files


def test_no_tracked_file_refers_outside_the_repository() -> None:
    """Given every tracked text file, when it is searched for paths outside a clone (the
    patterns of ``OUTSIDE``), then none is found."""
    # Given
    files = [p for p in _tracked_text_files() if p != Path(__file__).resolve()]
    # When
    hits = [f"{p.relative_to(PROJECT)}:{n}: {line.strip()}"
            for p in files
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)]
    # Then
    assert hits == []


def test_every_relative_markdown_link_resolves() -> None:
    """Given the README and every tracked Markdown file, when their relative links are
    followed, then each one names a file or folder of the repository."""
    # Given
    pages = [p for p in _tracked_text_files() if p.suffix == ".md"]
    # When
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            path = target.split("#", 1)[0]
            if path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(PROJECT)} -> {target}")
    # Then
    assert pages
    assert broken == []
