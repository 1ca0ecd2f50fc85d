"""A real S3 API on loopback: one moto server per session, with real credentials checks.

The server runs as a subprocess (``moto_server -H 127.0.0.1``) started here and stopped by
its PID. It enforces authentication (``INITIAL_NO_AUTH_ACTION_COUNT``): the first three
requests create an IAM user, its policy and its access key; every later request must be
signed with that key, so a wrong secret fails the way it fails against AWS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakecore.settings import Settings
from tests.helpers import KITCHEN_SINK

BUCKET = "lakehouse-test"
#: Requests moto serves before it starts checking signatures: user, policy, access key.
_SETUP_REQUESTS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The AWS variables of a bucket on a moto server started for this session."""
    import boto3

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
             str(port)], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"moto did not start: {log.read_text()}") from None
                time.sleep(0.1)
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1",
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="lakehouse")
        iam.put_user_policy(UserName="lakehouse", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="lakehouse")["AccessKey"]
        env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
               "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(
            Bucket=BUCKET)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def s3_settings(patch: pytest.MonkeyPatch, env: dict[str, str], state: Path,
                prefix: str | None = None) -> Settings:
    """Settings of a lakehouse at ``s3://<bucket>/<prefix>`` (a fresh prefix by default).

    The variables are set through ``patch``, which restores them.
    """
    for name, value in {**env, "LAKEHOUSE_STATE": str(state)}.items():
        patch.setenv(name, value)
    return Settings.from_env(root=f"s3://{BUCKET}/{prefix or uuid.uuid4().hex[:12]}")


@pytest.fixture
def s3_lake(s3_env: dict[str, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Settings:
    """An empty lakehouse under a fresh prefix of the session's bucket, state in tmp_path."""
    settings = s3_settings(monkeypatch, s3_env, tmp_path / "state")
    monkeypatch.setenv("LAKEHOUSE_ROOT", settings.data_root)
    return settings


def upload_kitchen_sink(settings: Settings) -> int:
    """Copy the kitchen-sink landing zone into the lakehouse's S3 landing zone."""
    assert settings.landing_store is not None
    files = sorted(p for p in KITCHEN_SINK.rglob("*") if p.is_file())
    for path in files:
        settings.landing_store.upload(path, path.relative_to(KITCHEN_SINK).as_posix())
    return len(files)


@pytest.fixture(scope="session")
def s3_kitchen_sink_lake(s3_env: dict[str, str],
                         tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The kitchen-sink landing zone run through the pipeline with its data in S3.

    The settings hold the credentials once resolved; the environment is restored at once.
    """
    from saaslake.pipeline import run

    state = tmp_path_factory.mktemp("s3_kitchen_sink") / "state"
    with pytest.MonkeyPatch.context() as patch:
        settings = s3_settings(patch, s3_env, state, prefix="kitchen-sink")
        upload_kitchen_sink(settings)
        run(settings, tests=False)
    return settings
