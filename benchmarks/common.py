"""What every benchmark shares: timed child processes, their peak memory, and results files.

Each measured phase runs as its own process (the ``lakehouse`` CLI, or a small script), so
its wall time is what a user waits for and its peak RSS is that process's alone
(``os.wait4``'s resource usage of the child). Results go to ``benchmarks/results/`` as
JSON (git-ignored), one file per run, named by benchmark, scale and UTC time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results"
#: The project's CLI, run by the same interpreter as the benchmark.
CLI = (sys.executable, "-m", "saaslake.cli", "--quiet")


@dataclass(frozen=True)
class Phase:
    """One measured child process."""

    seconds: float
    peak_rss_mb: float
    output: str


def run_phase(args: list[str] | tuple[str, ...], env: dict[str, str]) -> Phase:
    """Run ``args`` to completion; its wall seconds, its peak RSS (MB) and its output.

    Raises:
        SystemExit: the command failed (its output is shown).
    """
    started = time.perf_counter()
    proc = subprocess.Popen(list(args), cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-4000:]}")
    return Phase(round(wall, 2), round(usage.ru_maxrss / 1024), out)


def lakehouse_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI child working on the data root ``root``."""
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def write_results(name: str, scale: float, payload: object) -> Path:
    """Write ``payload`` as ``benchmarks/results/<name>-scale<scale>-<UTC time>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-scale{scale:g}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path


def verdict(value: float, target: float) -> str:
    """``met`` when ``value`` is at most ``target``, else ``MISSED``."""
    return "met" if value <= target else "MISSED"
