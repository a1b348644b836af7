"""Files pages: who sees what, the list and its cursor paging, download through the signed link, delete.

Uploads (the form, its refusals, CSRF after the upload handlers) are in test_files_pages_upload; helpers in
`files_support`, the `signed_in` fixture in conftest.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.files.models import File
from apps.files.storage import object_exists
from apps.files.tests import conftest as files_fixtures
from apps.identity.models import Membership, Role
from apps.identity.tests.factories import UserFactory
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.files_support import (
    PNG,
    TEXT,
    delete_url,
    download_url,
    files_url,
    rows,
    stored,
    upload_url,
)

pytestmark = pytest.mark.django_db

# The moto S3 server and a bucket per test (apps/files/tests/conftest.py), for the one S3 download test.
s3_endpoint = files_fixtures.s3_endpoint
s3 = files_fixtures.s3


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Path:
    """Local storage writes under this test's temporary directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


def page_urls(portal, file_id) -> list[str]:
    return [files_url(portal), upload_url(portal), download_url(portal, file_id), delete_url(portal, file_id)]


# --------------------------------------------------------------------------- who may see what


def test_anonymous_visitors_go_to_the_login_page_from_every_files_page(web, portal):
    # The upload page reads no body (and checks no CSRF token) before the sign-in check.
    responses = [web.get(url) for url in page_urls(portal, uuid.uuid4())] + [web.post(upload_url(portal))]
    for response in responses:
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/?next=")


def test_a_role_without_the_files_permissions_gets_403_on_every_files_page(
    web, tenant, portal, member, portal_login, rbac_seeded
):
    with tenant_context(tenant):
        guest = Role.objects.create(tenant=tenant, code="guest", name="Guest", permissions=[])
    portal.admitted_roles = [*portal.admitted_roles, "guest"]
    portal.save(update_fields=["admitted_roles"])
    user = UserFactory()
    with tenant_context(tenant):
        Membership.objects.create(user=user, tenant=tenant, role=guest)
    assert portal_login(user, portal).status_code == 302
    file = stored(tenant, member("owner"))
    for url in page_urls(portal, file.id):
        assert web.get(url).status_code == 403, url
    assert csrf_post(web, delete_url(portal, file.id)).status_code == 403
    assert rows(tenant) == [file]
    assert "Files" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_a_member_sees_files_and_the_upload_form_but_no_delete(web, portal, tenant, signed_in):
    me = signed_in("member")
    file = stored(tenant, me)
    page = web.get(files_url(portal))
    assert page.status_code == 200
    assert 'href="/portal/acme-test/files/"' in nav_links(page.content)
    assert b'enctype="multipart/form-data"' in page.content
    assert download_url(portal, file.id).encode() in page.content
    assert b"/delete/" not in page.content
    assert web.get(delete_url(portal, file.id)).status_code == 403
    assert csrf_post(web, delete_url(portal, file.id)).status_code == 403
    assert rows(tenant) == [file]


def test_an_admin_sees_delete_links(web, portal, tenant, signed_in):
    me = signed_in("admin")
    file = stored(tenant, me)
    assert delete_url(portal, file.id).encode() in web.get(files_url(portal)).content


def test_a_portal_that_switches_files_off_has_no_files_pages(web, portal, tenant, signed_in):
    me = signed_in("owner")
    file = stored(tenant, me)
    portal.features = {**portal.features, "files": False}
    portal.save(update_fields=["features"])
    for url in page_urls(portal, file.id):
        assert web.get(url).status_code == 403, url
    assert "/files/" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


# --------------------------------------------------------------------------- the list


def test_the_list_shows_name_as_given_escaped_size_type_and_time(web, portal, tenant, signed_in):
    me = signed_in("member")
    stored(tenant, me, name='<img src=x onerror="alert(1)"> R&amp;D.txt', content=b"x" * 2048)
    stored(tenant, me, name="photo.png", content=PNG)
    page = web.get(files_url(portal)).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; R&amp;amp;D.txt" in page
    assert "2.0\xa0KB" in page
    assert "text/plain" in page
    assert "image/png" in page
    names = re.findall(r'<td class="file-name">([^<]*)</td>', page)
    assert names[0] == "photo.png", "newest first"
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d</time>', page)


def test_the_list_shows_only_this_tenant_s_files(web, portal, tenant, other_tenant, member, signed_in):
    mine = stored(tenant, signed_in("member"), name="mine.txt")
    stored(other_tenant, member("owner", of=other_tenant), name="theirs.txt")
    page = web.get(files_url(portal)).content
    assert b"mine.txt" in page
    assert b"theirs.txt" not in page
    assert str(mine.id).encode() in page


def bulk_files(tenant, owner, count: int) -> None:
    with tenant_context(tenant):
        File.objects.bulk_create(
            File(
                tenant=tenant,
                name=f"f{i}.txt",
                safe_name=f"f{i}.txt",
                size=1,
                content_type="text/plain",
                sha256="0" * 64,
                key=f"tenants/{tenant.id}/files/k{i}",
                uploaded_by=owner,
            )
            for i in range(count)
        )


def row_count(content: bytes) -> int:
    return content.count(b'data-testid="file-row"')


def test_the_list_makes_the_same_queries_at_1_20_and_100_files(web, portal, tenant, signed_in):
    me = signed_in("admin")
    counts = {}
    for total in (1, 20, 100):
        with tenant_context(tenant):
            File.objects.all().delete()
        bulk_files(tenant, me, total)
        web.get(files_url(portal))  # warm: what a first request loads once
        for query in ("", "?page_size=100"):
            with CaptureQueriesContext(connection) as queries:
                page = web.get(files_url(portal) + query)
            assert page.status_code == 200
            assert row_count(page.content) == (min(total, 20) if not query else total)
            sql = [q["sql"].upper() for q in queries.captured_queries]
            assert not any("COUNT(" in s for s in sql), sql
            counts[(total, query)] = len(sql)
    assert len(set(counts.values())) == 1, counts


def test_cursor_paging_walks_every_file_once_newest_first(web, portal, tenant, signed_in):
    me = signed_in("member")
    bulk_files(tenant, me, 45)
    seen: list[str] = []
    url = files_url(portal)
    pages = 0
    while url:
        page = web.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        seen += re.findall(r'<td class="file-name">([^<]*)</td>', html)
        older = re.search(r'<a rel="next" href="([^"]+)"', html)
        if pages:
            assert 'rel="prev"' in html
        url = older.group(1).replace("&amp;", "&") if older else ""
        if url:
            assert urlsplit(url).path == files_url(portal)
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(f"f{i}.txt" for i in range(45))
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "%%%", "bz0xJnI9MCZwPW5vdC1hLWRhdGU=", "cD0yMDI0LTAxLTAxVDAwOjAwOjAw", "eD0x", "", "\x00"],
)
def test_a_cursor_the_list_did_not_mint_is_the_404_page_never_a_500(web, portal, tenant, signed_in, cursor):
    signed_in("member")
    page = web.get(files_url(portal), {"cursor": cursor})
    assert page.status_code == 404
    assert b"no such page of the list" in page.content


# --------------------------------------------------------------------------- download


def test_download_redirects_to_the_signed_link_which_serves_the_bytes(web, client, portal, tenant, signed_in, settings):
    file = stored(tenant, signed_in("member"), name="report.txt", content=TEXT)
    response = web.get(download_url(portal, file.id))
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    link = response["Location"]
    assert link.startswith(settings.PUBLIC_BASE_URL.rstrip("/") + "/api/v1/files/download/")
    served = client.get(urlsplit(link).path)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == TEXT
    assert 'filename="report.txt"' in served["Content-Disposition"]


@pytest.mark.parametrize("raw", ["not-a-uuid", "0", "%00", "1" * 300])
def test_a_malformed_file_id_is_the_404_page(web, portal, signed_in, raw):
    signed_in("owner")
    assert web.get(download_url(portal, raw)).status_code == 404
    assert web.get(delete_url(portal, raw)).status_code == 404
    assert csrf_post(web, delete_url(portal, raw)).status_code == 404


def test_another_tenant_s_file_is_404_to_download_and_delete(web, portal, tenant, other_tenant, member, signed_in):
    signed_in("owner")
    theirs = stored(other_tenant, member("owner", of=other_tenant), name="theirs.txt")
    assert web.get(download_url(portal, theirs.id)).status_code == 404
    assert web.get(delete_url(portal, theirs.id)).status_code == 404
    assert csrf_post(web, delete_url(portal, theirs.id)).status_code == 404
    assert rows(other_tenant) == [theirs]


def test_download_through_the_s3_bucket_redirects_to_a_presigned_link(web, portal, tenant, signed_in, s3):
    import urllib.request

    file = stored(tenant, signed_in("member"), name="photo.png", content=PNG)
    response = web.get(download_url(portal, file.id))
    assert response.status_code == 302
    link = response["Location"]
    assert link.startswith(s3.client.meta.endpoint_url)
    assert "X-Amz-Signature=" in link
    with urllib.request.urlopen(link, timeout=10) as served:
        assert served.read() == PNG
        assert "attachment" in served.headers["Content-Disposition"]


# --------------------------------------------------------------------------- delete


def test_delete_asks_first_then_deletes_through_the_service(web, portal, tenant, signed_in, media_root, committed):
    me = signed_in("admin")
    keep = stored(tenant, me, name="keep.txt")
    file = stored(tenant, me, name="old <draft>.txt")
    ask = web.get(delete_url(portal, file.id))
    assert ask.status_code == 200
    assert "<h1>Delete old &lt;draft&gt;.txt?</h1>" in ask.content.decode()
    assert b'method="post"' in ask.content
    assert rows(tenant) == [keep, file]  # asking changes nothing
    with committed():
        done = csrf_post(web, delete_url(portal, file.id))
    assert done.status_code == 303
    assert done["Location"] == files_url(portal)
    assert rows(tenant) == [keep]
    assert not object_exists(key=file.key)
    assert object_exists(key=keep.key)
    listed = web.get(files_url(portal)).content.decode()
    assert "Deleted old &lt;draft&gt;.txt." in listed


def test_delete_needs_the_csrf_token(web, portal, tenant, signed_in):
    file = stored(tenant, signed_in("owner"))
    web.get(delete_url(portal, file.id))
    assert web.post(delete_url(portal, file.id)).status_code == 403
    assert rows(tenant) == [file]
