"""The files API against a real S3 endpoint (moto server on 127.0.0.1): upload, list, download, delete, refusals."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from email.message import Message

import pytest

from apps.common.tenancy import tenant_context
from apps.files.models import File
from apps.files.tests.support import FILES, PNG, TEXT, WINDOWS_EXE, upload
from apps.identity import plugs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def fetch(url: str) -> tuple[int, bytes, Message]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def rows(tenant) -> list[File]:
    with tenant_context(tenant):
        return list(File.objects.all())


def test_upload_list_download_and_delete_through_the_bucket(
    owner_api, s3, tenant, settings, django_capture_on_commit_callbacks
):
    settings.FILES_DOWNLOAD_URL_TTL = 1
    created = upload(owner_api, "photo.png", PNG, content_type="image/png")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("name", "size", "content_type")} == {
        "name": "photo.png",
        "size": len(PNG),
        "content_type": "image/png",
    }
    assert set(body) >= {"id", "name", "size", "content_type", "created_at"}
    key = f"tenants/{tenant.id}/files/{body['id']}"
    assert s3.keys() == [key]
    assert s3.read(key) == PNG

    listed = owner_api.get(FILES).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert listed["next"] is None

    detail = owner_api.get(f"{FILES}{body['id']}/")
    assert detail.status_code == 200
    url = detail.json()["download_url"]
    assert url.startswith(s3.client.meta.endpoint_url)
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=1" in url
    status, content, headers = fetch(url)
    assert (status, content) == (200, PNG)
    assert headers["Content-Disposition"].startswith("attachment")
    assert headers["Content-Type"] == "image/png"
    # The response headers are part of what was signed: asking for another type breaks the signature.
    assert fetch(url.replace("image%2Fpng", "text%2Fhtml"))[0] == 403
    time.sleep(2.1)
    assert fetch(url)[0] == 403

    with django_capture_on_commit_callbacks(execute=True):
        deleted = owner_api.delete(f"{FILES}{body['id']}/")
    assert deleted.status_code == 204
    assert s3.keys() == []
    assert owner_api.get(f"{FILES}{body['id']}/").status_code == 404
    assert owner_api.get(FILES).json()["results"] == []


def test_oversized_upload_is_413_and_stores_nothing(owner_api, s3, tenant, settings):
    settings.FILES_MAX_UPLOAD_MB = 1
    response = upload(owner_api, "big.txt", b"a" * (1024 * 1024 + 1), content_type="text/plain")
    assert response.status_code == 413, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/file_too_large")
    assert s3.keys() == []
    assert rows(tenant) == []
    # Exactly at the limit is fine.
    assert upload(owner_api, "edge.txt", b"a" * (1024 * 1024), content_type="text/plain").status_code == 201


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(owner_api, s3, tenant, settings):
    settings.FILES_MAX_UPLOAD_MB = 1
    response = upload(owner_api, "big.txt", b"a" * (3 * 1024 * 1024), content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["type"].endswith("/file_too_large")
    assert s3.keys() == []


def test_an_executable_named_png_is_415(owner_api, s3, tenant):
    response = upload(owner_api, "holiday.png", WINDOWS_EXE, content_type="image/png")
    assert response.status_code == 415, response.content
    problem = response.json()
    assert problem["type"].endswith("/file_type_not_allowed")
    assert problem["detected_type"] == "application/x-msdownload"
    assert s3.keys() == []
    assert rows(tenant) == []


def test_a_traversal_name_never_reaches_the_key_and_is_shown_as_given(owner_api, s3, tenant):
    given = "../../etc/passwd\x1b[31m\u202egnp.txt"
    response = upload(owner_api, given, TEXT, content_type="text/plain")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == given
    assert s3.keys() == [f"tenants/{tenant.id}/files/{body['id']}"]
    (row,) = rows(tenant)
    assert row.safe_name == "_.._etc_passwd[31mgnp.txt"
    status, _, headers = fetch(owner_api.get(f"{FILES}{body['id']}/").json()["download_url"])
    assert status == 200
    assert "passwd" in headers["Content-Disposition"]
    assert "/" not in headers["Content-Disposition"]


def test_quota_exhausted_is_413_with_its_own_type_and_stores_nothing(owner_api, s3, tenant, monkeypatch):
    monkeypatch.setattr(plugs.plugs, "storage_limit_bytes", lambda t: len(PNG) + 5)
    assert upload(owner_api, "one.png", PNG, content_type="image/png").status_code == 201
    response = upload(owner_api, "two.png", PNG, content_type="image/png")
    assert response.status_code == 413, response.content
    problem = response.json()
    assert problem["type"].endswith("/storage_quota_exceeded")
    assert problem["limit_bytes"] == len(PNG) + 5
    assert len(s3.keys()) == 1
    assert len(rows(tenant)) == 1


def test_another_tenant_s_file_is_404_and_absent_from_lists(owner_api, s3, api_client, member, other_tenant):
    from apps.identity.tests.factories import PortalFactory

    other_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    theirs = api_client(member("owner", of=other_tenant), other_portal)
    their_file = upload(theirs, "secret.txt", TEXT, content_type="text/plain").json()["id"]
    mine = upload(owner_api, "mine.txt", TEXT, content_type="text/plain").json()["id"]

    assert [r["id"] for r in owner_api.get(FILES).json()["results"]] == [mine]
    for method in ("get", "delete"):
        response = getattr(owner_api, method)(f"{FILES}{their_file}/")
        assert response.status_code == 404, (method, response.content)
    assert [r["id"] for r in theirs.get(FILES).json()["results"]] == [their_file]
    assert len(s3.keys()) == 2


def test_an_unreachable_bucket_is_503_and_leaves_no_row(owner_api, s3, tenant, settings):
    from apps.files.tests.conftest import _free_port

    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: the endpoint is down
    options = settings.STORAGES["default"]["OPTIONS"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {**options, "endpoint_url": dead}},
    }
    response = upload(owner_api, "photo.png", PNG, content_type="image/png")
    assert response.status_code == 503, response.content
    assert response.json()["type"].endswith("/storage_unavailable")
    assert "Try again" in response.json()["detail"]
    assert response["Retry-After"] == "60"
    assert rows(tenant) == []
    assert s3.keys() == []
