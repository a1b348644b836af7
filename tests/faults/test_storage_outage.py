"""A real S3 (moto_server) killed in the middle of an upload (docs/security.md, "Faults: nothing lost").

The upload has passed its checks and is about to write the object when the S3
server dies (SIGKILL): the client gets 503 `storage_unavailable` with
Retry-After, no file row points at a missing object, and no quota is used.
Once S3 is back, the same upload (which only fits if the failed one consumed
nothing) is stored and listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from apps.common.tenancy import tenant_context
from apps.files import services
from apps.files.models import File
from apps.files.selectors import file_storage_used
from apps.files.tests.support import FILES, PNG, upload
from apps.identity import plugs
from apps.identity.models import AuditEvent
from config.settings.storages import s3_storage
from tests.faults.servers import MotoServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

REGION = "us-east-1"
KEYS = {"access_key": "testing", "secret_key": "testing"}


class Bucket:
    def __init__(self, server: MotoServer) -> None:
        self.name = f"atrium-faults-{uuid.uuid4().hex[:12]}"
        self.client = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=KEYS["access_key"],
            aws_secret_access_key=KEYS["secret_key"],
        )

    def create(self) -> None:
        self.client.create_bucket(Bucket=self.name)

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return sorted(obj["Key"] for obj in listed.get("Contents", []))


@pytest.fixture
def moto(tmp_path: Path, child_env) -> Iterator[MotoServer]:  # type: ignore[no-untyped-def]
    scratch = tmp_path / "moto"
    scratch.mkdir()
    server = MotoServer(scratch, child_env())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def bucket(moto: MotoServer, settings, tmp_path: Path) -> Bucket:  # type: ignore[no-untyped-def]
    """A bucket on the killable moto, and Django's default storage pointed at it as production builds it."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    created = Bucket(moto)
    created.create()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket=created.name, endpoint_url=moto.url, region=REGION, expire=settings.FILES_DOWNLOAD_URL_TTL, **KEYS
        ),
    }
    return created


def test_s3_dying_mid_upload_is_503_leaves_no_row_uses_no_quota_and_works_once_back(
    api_client, member, portal, tenant, moto, bucket, monkeypatch
):
    owner_api = api_client(member("owner"), portal)
    monkeypatch.setattr(plugs.plugs, "storage_limit_bytes", lambda t: len(PNG))  # room for exactly one
    write = services.object_write

    def s3_dies_first(**kwargs: object) -> str:
        moto.kill()  # the checks passed; the object write meets a dead endpoint
        return write(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "object_write", s3_dies_first)
    response = upload(owner_api, "photo.png", PNG, content_type="image/png")
    monkeypatch.setattr(services, "object_write", write)

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/storage_unavailable")
    assert response["Retry-After"] == "60"
    assert b"Traceback" not in response.content
    assert b"botocore" not in response.content.lower()
    with tenant_context(tenant):
        assert not File.objects.exists()  # no row pointing at an object that is not there
        assert file_storage_used(tenant=tenant) == 0
        assert not AuditEvent.objects.filter(action="file.uploaded").exists()

    moto.start()  # back, empty (moto keeps nothing across a kill): the operator recreates the bucket
    bucket.create()
    created = upload(owner_api, "photo.png", PNG, content_type="image/png")
    assert created.status_code == 201, created.content  # the quota had room: the failure used none
    file_id = created.json()["id"]
    assert bucket.keys() == [f"tenants/{tenant.id}/files/{file_id}"]
    assert [row["id"] for row in owner_api.get(FILES).json()["results"]] == [file_id]
