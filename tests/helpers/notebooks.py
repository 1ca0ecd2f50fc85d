"""Running the notebooks (scripts, `marimo` servers) in subprocesses."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
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


def _wait_for_port(port: int, deadline: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def start_marimo(notebook: Path, env: dict[str, str], port: int, token: str
                 ) -> tuple[subprocess.Popen[str], str]:
    """Serve a notebook with `marimo run` on 127.0.0.1 and return (process, URL)."""
    process = subprocess.Popen(
        [str(VENV_BIN / "marimo"), "run", str(notebook), "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--token-password", token],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"URL: (http://\S+)", line)
        if match:
            _wait_for_port(port, deadline)
            return process, match.group(1).replace("localhost", "127.0.0.1")
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError("marimo run printed no URL")


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a server started by ``start_marimo``: terminate, then kill after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
