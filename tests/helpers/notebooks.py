"""Running the notebooks (scripts, `marimo` servers) in subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import PROJECT  # re-exported: the notebook tests import it from here

NOTEBOOKS = PROJECT / "notebooks"
VENV_BIN = Path(sys.executable).parent
#: Screenshots and other artefacts a test leaves for a human to look at.
OUTPUT = PROJECT / "test-output"


def notebooks() -> list[Path]:
    """The workbook's notebooks (``NN_name.py``), in order."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_python(args: list[str], env: dict[str, str], timeout: float = 240
               ) -> subprocess.CompletedProcess[str]:
    """Run the project's Python with ``args`` from the repository root; capture output."""
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
