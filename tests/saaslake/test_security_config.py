"""The configuration promises of docs/reference/faults-and-bad-input.md, each checked for real:
the dashboard refuses requests without its token, the container publishes on 127.0.0.1 only and
runs as a non-root user, and no secret from the environment reaches a file or an output."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
import yaml

from lakecore.settings import Settings
from tests.helpers import PROJECT
from tests.helpers.notebooks import NOTEBOOKS, free_port, start_marimo, stop


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, jar: CookieJar) -> tuple[int, str]:
    """GET without following redirects, keeping cookies: (status, Location or "")."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(url, timeout=30) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as err:
        return int(err.code), err.headers.get("Location", "")


def test_the_dashboard_refuses_requests_without_its_token(settings: Settings) -> None:
    """Given the dashboard served as `make dashboard` serves it (127.0.0.1, a token), when it is
    requested without the token or with a wrong one, then it is refused (sent to the login
    page); with the right token it answers the page."""
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(settings.root)}
    process, url = start_marimo(NOTEBOOKS / "03_revenue_dashboard.py", env, free_port(), token)
    try:
        base = url.split("?", 1)[0].rstrip("/")
        assert base.startswith("http://127.0.0.1:")
        for attempt in (base + "/", f"{base}/?access_token=not-the-token"):
            status, location = get(attempt, CookieJar())
            assert status in (303, 401, 403), attempt
            assert status != 303 or "login" in location, location
        jar = CookieJar()
        status, location = get(f"{base}/?access_token={token}", jar)
        if status == 303:  # the token is exchanged for a session cookie
            assert "login" not in location
            status, location = get(base + "/", jar)
        assert status == 200
    finally:
        stop(process)


def test_the_container_publishes_on_loopback_only_and_requires_a_token() -> None:
    """Given docker-compose.yml, then every published port binds 127.0.0.1 and the dashboard
    cannot start without MARIMO_TOKEN."""
    compose = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    published = [port for service in compose["services"].values()
                 for port in service.get("ports", [])]
    assert published
    assert all(str(port).startswith("127.0.0.1:") for port in published)
    command = " ".join(compose["services"]["dashboard"]["command"])
    assert "--token-password ${MARIMO_TOKEN:?" in command


def test_the_container_runs_as_a_non_root_user() -> None:
    """Given the Dockerfile, then its final stage switches to a numeric non-root user and never
    back to root."""
    text = (PROJECT / "Dockerfile").read_text()
    final = re.split(r"^FROM\s", text, flags=re.MULTILINE)[-1]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert uid != "root"


@pytest.mark.slow
def test_no_secret_from_the_environment_reaches_a_file_or_an_output(settings: Settings) -> None:
    """Given dummy secrets in the environment, when simulate, ingest, build, status, summary, sql,
    dbt-env and verify run, then no output and no file under the data root contains them."""
    secret = f"dummy-secret-{secrets.token_hex(8)}"
    env = {**os.environ, "LAKEHOUSE_ROOT": str(settings.root), "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_ACCESS_KEY_ID": f"AKIA{secret}", "MARIMO_TOKEN": secret,
           "OPENLINEAGE_API_KEY": secret}
    outputs = []
    for args in (["simulate", "--scale", "0.01", "--daily-days", "1"], ["ingest"],
                 ["build", "--models-only"], ["status"],
                 ["summary"], ["sql", "select count(*) from gold.dim_accounts"], ["dbt-env"],
                 ["verify"]):
        done = subprocess.run([sys.executable, "-m", "saaslake.cli", *args], cwd=PROJECT,
                              env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    assert not [o for o in outputs if secret in o]
    leaked = [p for p in Path(settings.root).rglob("*")
              if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []


@pytest.mark.slow
def test_the_audit_never_claims_what_it_did_not_check() -> None:
    """Given the lock, when `tools/audit.py` (make audit) runs, then it exits 0 only when every
    locked package was audited clean, 1 naming a vulnerability, or 3 saying what was not audited
    (advisory data unreachable) — never a clean result for packages it could not check."""
    done = subprocess.run([sys.executable, "tools/audit.py"], cwd=PROJECT, capture_output=True,
                          text=True, check=False, timeout=300)
    summary = re.search(r"(\d+) of (\d+) locked packages audited", done.stdout)
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    if done.returncode == 0:
        assert summary is not None
        assert summary.group(1) == summary.group(2)
    elif done.returncode == 3:
        assert "not audited" in done.stdout or "nothing was audited" in done.stdout
    else:
        assert re.search(r"^  \S+ \S+: \S+", done.stdout, flags=re.MULTILINE)
