"""Every notebook runs as a script, passes `marimo check --strict` and runs under nbmake.

All of these are read-only against the session's test lakehouse: the pipeline, ingest and
build buttons are never pressed (their cells only act on a run button's click).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakecore.settings import Settings
from tests.helpers.notebooks import NOTEBOOKS, PROJECT, VENV_BIN, notebooks, run_python

NAMES = [p.stem for p in notebooks()]


def test_the_workbook_has_its_seven_notebooks() -> None:
    assert NAMES == ["00_start_here", "01_ingest", "02_transform", "03_revenue_dashboard",
                     "04_explore", "05_pipeline_health", "06_forecast"]


def test_marimo_check_strict_passes() -> None:
    result = subprocess.run([str(VENV_BIN / "marimo"), "check", "--strict", str(NOTEBOOKS)],
                            cwd=PROJECT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _lake_state(settings: Settings) -> dict[str, float]:
    """Modification times of the manifest and the publication: a run would change them."""
    paths = [settings.manifest_path, settings.warehouse / "published.json"]
    return {str(p): p.stat().st_mtime for p in paths}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_as_a_script(name: str, notebook_env: dict[str, str],
                                   lakehouse: Settings) -> None:
    # Given a built lakehouse
    before = _lake_state(lakehouse)
    # When the notebook runs as a plain script
    result = run_python([str(NOTEBOOKS / f"{name}.py")], notebook_env)
    # Then it exits 0 and ran nothing that writes (no new batch, no new build)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _lake_state(lakehouse) == before


#: What a cell shows when something went wrong: a danger callout, or a section that gave up.
FAILURE_MARKERS = ("data-kind='&quot;danger&quot;'", "not available", "Traceback")


def _shown_failures(notebook: Path, env: dict[str, str], target: Path) -> list[str]:
    """Run a notebook through `marimo export ipynb --include-outputs`; every failing output."""
    result = subprocess.run(
        [str(VENV_BIN / "marimo"), "export", "ipynb", "--include-outputs", str(notebook),
         "-o", str(target), "-f"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=240, check=False)
    if not target.exists():
        return [f"export failed: {result.stdout[-2000:]}{result.stderr[-2000:]}"]
    failures = [] if result.returncode == 0 else [f"exit {result.returncode}: {result.stderr}"]
    for cell in json.loads(target.read_text())["cells"]:
        for output in cell.get("outputs", []):
            text = json.dumps(output)
            if output.get("output_type") == "error":
                failures.append(f"{output.get('ename')}: {output.get('evalue')}")
            elif any(marker in text for marker in FAILURE_MARKERS):
                failures.append(text[:500])
    return failures


@pytest.mark.parametrize("name", NAMES)
def test_no_cell_shows_an_error_on_a_built_lakehouse(name: str, notebook_env: dict[str, str],
                                                      lakehouse: Settings,
                                                      tmp_path: Path) -> None:
    """Given a built lakehouse, when the notebook runs with every cell's output kept, then no
    cell raised, and none shows a danger callout or says a section is "not available"."""
    failures = _shown_failures(NOTEBOOKS / f"{name}.py", notebook_env, tmp_path / "out.ipynb")
    assert failures == []


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_gold(name: str, tmp_path: Path) -> None:
    # Given an empty lakehouse root (nothing ingested, nothing built)
    env = {**__import__("os").environ, "LAKEHOUSE_ROOT": str(tmp_path / "empty")}
    env.pop("LAKEHOUSE_LANDING", None)
    # When the notebook runs, then it explains instead of crashing
    result = run_python([str(NOTEBOOKS / f"{name}.py")], env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_notebooks_run_under_nbmake(notebook_env: dict[str, str], tmp_path: Path) -> None:
    # Given every notebook exported to Jupyter format
    exported = []
    for name in NAMES:
        target = tmp_path / f"{name}.ipynb"
        result = subprocess.run(
            [str(VENV_BIN / "marimo"), "export", "ipynb", str(NOTEBOOKS / f"{name}.py"),
             "-o", str(target), "--sort", "topological"],
            cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        exported.append(str(target))
    # When nbmake executes them in a Jupyter kernel (a subprocess, read-only lakehouse)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), *exported],
        cwd=tmp_path, env={**notebook_env, "PYTHONPATH": str(PROJECT)},
        capture_output=True, text=True, timeout=600, check=False)
    # Then every notebook passes
    assert result.returncode == 0, result.stdout[-5000:]
