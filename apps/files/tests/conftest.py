"""Files test fixtures: a moto S3 server on 127.0.0.1, per-test buckets, local storage in a temp directory.

`s3_endpoint` starts `moto_server` once per session on a free port and stops
it at the end; `s3` gives a test its own bucket and points Django's default
storage at it (the same `s3_storage` settings production builds). Every test
here gets a fresh MEDIA_ROOT, so the local storage never writes into the
checkout.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from apps.files.tests.s3_gate import S3Gate
from config.settings.storages import s3_storage

REGION = "us-east-1"
CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_BOTO_CREDENTIALS = {"access_key": CREDENTIALS["access_key"], "secret_key": CREDENTIALS["secret_key"]}


@pytest.fixture(scope="session")
def s3_endpoint(child_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`http://127.0.0.1:<port>`: a moto S3 server for this test session, behind its presigned-URL check.

    moto serves expired or altered presigned URLs; `S3Gate` refuses them as S3 does (see `s3_gate`).
    """
    port = _free_port()
    scratch = tmp_path_factory.mktemp("moto")
    log = (scratch / "moto.log").open("wb")
    executable = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env(),
        cwd=scratch,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start on {url} (exit {process.poll()})")
                time.sleep(0.1)
        gate = S3Gate(upstream=url, credentials=Credentials(**_BOTO_CREDENTIALS), region=REGION)
        try:
            yield gate.url
        finally:
            gate.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Bucket:
    name: str
    client: Any

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return sorted(obj["Key"] for obj in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())


@pytest.fixture
def s3(s3_endpoint: str, settings: Any) -> Bucket:
    """A fresh bucket on the moto server, and Django's default storage pointed at it."""
    name = f"atrium-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket=name, endpoint_url=s3_endpoint, region=REGION, expire=settings.FILES_DOWNLOAD_URL_TTL, **CREDENTIALS
        ),
    }
    return Bucket(name=name, client=client)


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    """Local storage writes under this test's temporary directory."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def owner(member):  # type: ignore[no-untyped-def]
    return member("owner")


@pytest.fixture
def owner_api(api_client, owner, portal):  # type: ignore[no-untyped-def]
    return api_client(owner, portal)


@pytest.fixture
def member_api(api_client, member, portal):  # type: ignore[no-untyped-def]
    return api_client(member("member"), portal)
