"""``make audit``: check the locked dependencies against known vulnerabilities (pip-audit).

The lock (``uv.lock``) is exported as pinned requirements and given to pip-audit, which
asks PyPI's vulnerability data for each pinned version (``--service osv`` asks OSV
instead). A package whose advisory data cannot be fetched is *not audited*; pip-audit
still prints "No known vulnerabilities found" in that case, so this script counts the
skipped packages and never reports a clean audit that did not happen.

Exit codes: 0 every package audited and none vulnerable; 1 a known vulnerability; 3 the
advisory data was not reachable for some or all packages (nothing is claimed for them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def locked_requirements() -> str:
    """The lock as pinned requirements (every extra, without the project itself)."""
    return subprocess.run(
        ["uv", "export", "--locked", "--no-hashes", "--no-emit-project", "--all-extras",
         "--format", "requirements-txt", "--quiet"],
        cwd=PROJECT, check=True, capture_output=True, text=True).stdout


def main() -> int:
    """Run the audit and print one summary line (and each finding)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write(locked_requirements())
        requirements.flush()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "pip-audit"), "--requirement",
             requirements.name, "--no-deps", "--disable-pip", "--progress-spinner", "off",
             "--vulnerability-service", args.service, "--format", "json"],
            capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: the advisory data ({args.service}) is not reachable: {reason}; "
              "nothing was audited")
        return 3
    packages = report.get("dependencies", [])
    skipped = [p for p in packages if p.get("skip_reason")]
    found = [(p["name"], p["version"], v["id"]) for p in packages for v in p.get("vulns", [])]
    for name, version, advisory in found:
        print(f"  {name} {version}: {advisory}")
    audited = len(packages) - len(skipped)
    print(f"audit ({args.service}): {audited} of {len(packages)} locked packages audited, "
          f"{len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'}")
    if found:
        return 1
    if skipped:
        print(f"audit: no advisory data for {len(skipped)} package(s) (for example "
              f"{skipped[0]['name']}: {skipped[0]['skip_reason']}); they were not audited")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
