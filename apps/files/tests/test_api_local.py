"""The files API on the default local storage: the app's own signed, expiring download link; query budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.files.models import File
from apps.files.storage import download_token, object_key
from apps.files.tests.support import CSV, FILES, PDF, TEXT, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_upload_stores_under_the_tenant_prefix_and_the_signed_link_serves_it(owner_api, client, tenant, media_root):
    body = upload(owner_api, "report.pdf", PDF, content_type="application/pdf").json()
    assert body["content_type"] == "application/pdf"
    stored = Path(media_root) / "tenants" / str(tenant.id) / "files" / body["id"]
    assert stored.read_bytes() == PDF

    detail = owner_api.get(f"{FILES}{body['id']}/").json()
    assert detail["download_url"].startswith("http")
    response = client.get(path_of(detail["download_url"]))  # no bearer, no session: the link is the grant
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_local_link_expires(owner_api, client, settings):
    settings.FILES_DOWNLOAD_URL_TTL = 1
    file_id = upload(owner_api, "notes.txt", TEXT, content_type="text/plain").json()["id"]
    url = path_of(owner_api.get(f"{FILES}{file_id}/").json()["download_url"])
    assert client.get(url).status_code == 200
    time.sleep(2.1)
    expired = client.get(url)
    assert expired.status_code == 403
    assert expired["Content-Type"] == "application/problem+json"
    assert expired.json()["type"].endswith("/invalid_download_link")


def test_a_tampered_or_foreign_link_is_refused(owner_api, client, tenant, other_tenant):
    file_id = upload(owner_api, "notes.txt", TEXT, content_type="text/plain").json()["id"]
    url = path_of(owner_api.get(f"{FILES}{file_id}/").json()["download_url"])
    token = url.rstrip("/").rsplit("/", 1)[1]
    payload, _, signature = token.partition(":")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, f"{payload}x:{signature}", "nonsense", f"{token}:"):
        response = client.get(f"{FILES}download/{bad}/")
        assert response.status_code == 403, bad
    # Correctly signed, but naming the file under another tenant: no such file there.
    foreign = download_token(tenant_id=other_tenant.id, file_id=file_id)
    assert client.get(f"{FILES}download/{foreign}/").status_code == 404


def test_a_deleted_file_s_link_is_404_and_its_object_is_gone(
    owner_api, client, tenant, media_root, django_capture_on_commit_callbacks
):
    file_id = upload(owner_api, "data.csv", CSV, content_type="text/csv").json()["id"]
    url = path_of(owner_api.get(f"{FILES}{file_id}/").json()["download_url"])
    stored = Path(media_root) / object_key(tenant_id=tenant.id, file_id=file_id)
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete(f"{FILES}{file_id}/").status_code == 204
    assert not stored.exists()
    assert client.get(url).status_code == 404


def test_the_object_stays_until_the_deletion_commits(owner_api, tenant, media_root, django_capture_on_commit_callbacks):
    file_id = upload(owner_api, "data.csv", CSV, content_type="text/csv").json()["id"]
    stored = Path(media_root) / object_key(tenant_id=tenant.id, file_id=file_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert owner_api.delete(f"{FILES}{file_id}/").status_code == 204
        assert stored.exists()  # the row is gone in this transaction; the object waits for the commit
    assert stored.exists()
    assert callbacks
    for callback in callbacks:
        callback()
    assert not stored.exists()


def test_text_and_csv_are_judged_by_decoding(owner_api):
    assert upload(owner_api, "a.csv", CSV, content_type="text/csv").json()["content_type"] == "text/csv"
    assert upload(owner_api, "a.txt", CSV, content_type="text/plain").json()["content_type"] == "text/plain"
    bad_utf8 = upload(owner_api, "latin1.txt", "café".encode("latin-1"), content_type="text/plain")
    assert bad_utf8.status_code == 415
    with_nul = upload(owner_api, "nul.txt", b"abc\x00def", content_type="text/plain")
    assert with_nul.status_code == 415


def test_the_list_pages_newest_first_with_the_same_queries_at_1_20_and_100(owner_api, tenant, owner):
    with tenant_context(tenant):
        for i in range(101):
            File.objects.create(
                name=f"f{i}.txt",
                safe_name=f"f{i}.txt",
                size=1,
                content_type="text/plain",
                sha256="0" * 64,
                key=f"tenants/{tenant.id}/files/k{i}",
                uploaded_by=owner,
            )
    owner_api.get(FILES)  # warm: what a first request loads once
    totals = {}
    for size in (1, 20, 100):
        with CaptureQueriesContext(connection) as queries:
            response = owner_api.get(FILES, {"page_size": size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        sql = [q["sql"].upper() for q in queries.captured_queries]
        assert not any("COUNT(" in s for s in sql), sql
        totals[size] = len(sql)
    assert totals[1] == totals[20] == totals[100], totals
    first = owner_api.get(FILES, {"page_size": 60}).json()
    second = owner_api.get(first["next"]).json()
    names = [r["name"] for r in first["results"] + second["results"]]
    assert names == [f"f{i}.txt" for i in range(100, -1, -1)]


def test_a_file_over_the_json_body_cap_but_under_the_file_limit_is_accepted(owner_api, tenant, media_root):
    content = b"line of text\n" * (5 * 1024 * 1024 // 13)  # ~5 MB: past the 2.5 MB JSON cap, under 10 MB
    response = upload(owner_api, "big.txt", content, content_type="text/plain")
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(content)
    assert (media_root / object_key(tenant_id=tenant.id, file_id=response.json()["id"])).stat().st_size == len(content)


def test_identity_asks_files_how_much_a_tenant_stores(owner_api, tenant):
    from apps.identity import plugs

    assert upload(owner_api, "a.txt", TEXT).status_code == 201
    assert upload(owner_api, "b.csv", CSV).status_code == 201
    with tenant_context(tenant):
        assert plugs.storage_used_bytes(tenant) == len(TEXT) + len(CSV)
