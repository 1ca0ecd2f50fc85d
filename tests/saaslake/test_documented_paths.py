"""The README's commands, run literally and in the order written, on a fresh data root.

The commands are read from the README itself (the "Using it" block), so a command that is
documented but broken fails here, and a change of the README is tested as it stands.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROJECT

pytestmark = pytest.mark.slow

README = PROJECT / "README.md"


def readme_commands() -> list[list[str]]:
    """The `lakehouse` commands of the README's "Using it" block, as argument lists."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using it"):]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README's 'Using it' section has no bash block"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == ".venv/bin/lakehouse", line
            commands.append(words[1:])
    return commands


def lakehouse(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "saaslake.cli", *args], cwd=PROJECT,
                          env={**os.environ, "LAKEHOUSE_ROOT": str(root)},
                          capture_output=True, text=True, timeout=600, check=False)


def test_every_readme_command_works_in_order_on_a_fresh_root(tmp_path: Path) -> None:
    """Given a fresh data root, when every command of the README's "Using it" block runs in the
    order written, then each exits 0 without a traceback, and the queries answer with Gold."""
    root = tmp_path / "lakehouse"
    commands = readme_commands()
    assert [c[0] for c in commands][:4] == ["simulate", "ingest", "build", "run"]
    outputs = {}
    for args in commands:
        result = lakehouse(root, *args)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, args
        outputs[" ".join(args[:2])] = result.stdout
    # The KPI query shows three months of Gold; the summary names the as-of date
    kpi_query = next(k for k in outputs if k.startswith("sql select month_start"))
    assert outputs[kpi_query].strip().endswith("(3 rows)")
    assert outputs["summary"].startswith("Gold as of 2025-12-31")
    # The docs command names a page that exists
    docs_page = Path(outputs["docs"].split(" written to ")[1].split(" (")[0])
    assert docs_page.is_file()


def test_the_dirty_demo_publishes_gold_and_shows_the_quarantine(tmp_path: Path) -> None:
    """Given a fresh root, when the README's dirty demo runs (`simulate --dirty 0.02`, then `run`,
    at the default scale, every data test on), then Gold is published and the quarantine lists
    rows of every entity, each with its reason."""
    root = tmp_path / "lakehouse"
    assert "lakehouse simulate --dirty 0.02" in README.read_text(encoding="utf-8")
    assert lakehouse(root, "--quiet", "simulate", "--dirty", "0.02").returncode == 0
    run = lakehouse(root, "--quiet", "run")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "published Gold as of 2025-12-31" in run.stdout
    quarantine = lakehouse(root, "sql", "select entity, count(*) as n, count(_reason) as r "
                           "from quarantine.all_rows group by 1 order by 1", "--format", "csv")
    rows = [line.split(",") for line in quarantine.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["accounts", "events", "fx_rates", "invoices", "plans",
                                    "subscriptions", "users"]
    assert all(int(n) > 0 and n == r for _entity, n, r in rows)
