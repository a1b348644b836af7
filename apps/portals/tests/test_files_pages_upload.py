"""The upload form: the API's service and upload handling, refusals on the form, CSRF after the upload handlers.

List, download and delete are in test_files_pages; helpers in `files_support`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from apps.files.storage import object_exists
from apps.identity import plugs
from apps.portals.tests.files_support import (
    ELF,
    PNG,
    TEXT,
    csrf_token,
    files_url,
    form_body,
    post_upload,
    rows,
    upload_url,
)

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Path:
    """Local storage writes under this test's temporary directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_objects(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def form_error(content: bytes) -> str:
    text = content.decode()
    start = text.index("data-upload-error")
    return text[start : text.index("</div>", start)]


# --------------------------------------------------------------------------- success


def test_an_upload_is_stored_by_the_service_and_the_list_says_so(web, portal, tenant, signed_in, media_root):
    me = signed_in("member")
    response = post_upload(web, portal, "Q3 R&amp;D <plan>.png", PNG, content_type="image/png")
    assert response.status_code == 303
    assert response["Location"] == files_url(portal)
    [file] = rows(tenant)
    assert file.name == "Q3 R&amp;D <plan>.png"  # as given: Django's parser would have unescaped it
    assert (file.size, file.content_type, file.uploaded_by_id) == (len(PNG), "image/png", me.id)
    assert file.sha256 == hashlib.sha256(PNG).hexdigest()
    assert (media_root / file.key).read_bytes() == PNG
    listed = web.get(files_url(portal)).content.decode()
    assert "Uploaded Q3 R&amp;amp;D &lt;plan&gt;.png." in listed
    assert '<td class="file-name">Q3 R&amp;amp;D &lt;plan&gt;.png</td>' in listed


def test_the_progress_bar_s_request_gets_json_and_the_message_waits_on_the_list(web, portal, tenant, signed_in):
    signed_in("member")
    response = post_upload(web, portal, "notes.txt", TEXT, content_type="text/plain", **JSON)
    assert response.status_code == 200
    assert response.json() == {"redirect": files_url(portal)}
    assert [f.name for f in rows(tenant)] == ["notes.txt"]
    assert b"Uploaded notes.txt." in web.get(files_url(portal)).content


def test_the_page_carries_the_form_the_progress_bar_and_its_script_without_inline_code(web, portal, signed_in):
    signed_in("member")
    page = web.get(files_url(portal)).content.decode()
    assert f'action="{upload_url(portal)}"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<label for="upload-progress">Upload progress</label>' in page
    assert '<progress id="upload-progress" max="100" value="0">' in page
    assert '<script src="/static/portals/upload.js" defer></script>' in page
    assert "style=" not in page
    assert " onclick=" not in page
    assert " onsubmit=" not in page
    assert web.get(upload_url(portal)).status_code == 302  # the form lives on the list


# --------------------------------------------------------------------------- refusals, on the form


def test_a_file_over_the_limit_is_refused_while_read_413_on_the_form(
    web, portal, tenant, signed_in, settings, media_root
):
    settings.FILES_MAX_UPLOAD_MB = 1
    signed_in("member")
    response = post_upload(web, portal, "big.txt", b"a" * (1024 * 1024 + 1), content_type="text/plain")
    assert response.status_code == 413
    error = form_error(response.content)
    assert "larger than the 1 MB limit" in error
    assert "Choose a file of at most 1 MB." in error
    assert 'name="file"' in response.content.decode()  # the form again
    assert rows(tenant) == []
    assert stored_objects(media_root) == []


def test_a_body_declared_over_the_limit_is_refused_before_a_byte_is_read(web, portal, tenant, signed_in, settings):
    settings.FILES_MAX_UPLOAD_MB = 1
    signed_in("member")
    body, multipart_type = form_body("small.txt", TEXT, token=csrf_token(web, portal))
    # The test client's payload fails the test if anything reads past the real body: nothing may read it.
    response = web.generic(
        "POST", upload_url(portal), body, content_type=multipart_type, CONTENT_LENGTH=str(50 * 1024 * 1024)
    )
    assert response.status_code == 413
    assert "larger than the 1 MB limit" in form_error(response.content)
    assert rows(tenant) == []


def test_an_executable_named_png_is_415_on_the_form(web, portal, tenant, signed_in, media_root):
    signed_in("member")
    response = post_upload(web, portal, "photo.png", ELF, content_type="image/png")
    assert response.status_code == 415
    error = form_error(response.content)
    assert "This file&#x27;s content is application/x-executable" in error
    assert "renaming a file does not change what it is" in error
    assert rows(tenant) == []
    assert stored_objects(media_root) == []


def test_an_exhausted_quota_is_413_with_what_to_do(web, portal, tenant, signed_in, monkeypatch, media_root):
    signed_in("member")
    monkeypatch.setattr(plugs.plugs, "storage_limit_bytes", lambda t: len(PNG) - 1)
    response = post_upload(web, portal, "photo.png", PNG)
    assert response.status_code == 413
    error = form_error(response.content)
    assert "storage quota" in error
    assert "Delete files you no longer need" in error
    assert rows(tenant) == []
    assert stored_objects(media_root) == []


def test_refusals_answer_the_progress_bar_with_json_and_the_status(web, portal, tenant, signed_in, settings):
    signed_in("member")
    refused = post_upload(web, portal, "photo.png", ELF, **JSON)
    assert refused.status_code == 415
    assert "application/x-executable" in refused.json()["error"]
    settings.FILES_MAX_UPLOAD_MB = 1
    too_big = post_upload(web, portal, "big.txt", b"a" * (1024 * 1024 + 1), **JSON)
    assert too_big.status_code == 413
    assert "Choose a file of at most 1 MB." in too_big.json()["error"]
    assert rows(tenant) == []


def test_no_file_or_a_second_file_is_400_on_the_form(web, portal, tenant, signed_in):
    signed_in("member")
    token = csrf_token(web, portal)
    empty = web.post(upload_url(portal), {"csrfmiddlewaretoken": token})
    assert empty.status_code == 400
    assert "No file was chosen." in form_error(empty.content)
    part = 'Content-Disposition: form-data; name="file"; filename="{}"\r\nContent-Type: text/plain\r\n\r\n'
    two = (
        f'--two\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f"--two\r\n{part.format('a.txt')}a\r\n--two\r\n{part.format('b.txt')}b\r\n--two--\r\n"
    )
    second = web.generic("POST", upload_url(portal), two.encode(), content_type="multipart/form-data; boundary=two")
    assert second.status_code == 400
    assert "Send exactly one file" in form_error(second.content)
    assert rows(tenant) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        # Read, but no CSRF token in it: refused as any post without one.
        (b"not multipart at all", "multipart/form-data; boundary=xyz", 403),
        (b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n', "multipart/form-data; boundary=xyz", 403),
        (b"file=abc", "application/x-www-form-urlencoded", 403),
        (b"\x00\xff" * 100, "application/octet-stream", 403),
        # Unreadable as multipart: the form again, saying so.
        (b"anything", "multipart/form-data", 400),
        (b"anything", "multipart/form-data; boundary=\xe9", 400),
    ],
)
def test_garbage_bodies_are_answered_never_with_a_500(web, portal, tenant, signed_in, body, content_type, status):
    signed_in("member")
    response = web.generic("POST", upload_url(portal), body, content_type=content_type)
    assert response.status_code == status
    if status == 400:
        assert "The form could not be read" in form_error(response.content)
    assert rows(tenant) == []


def test_an_empty_file_is_what_the_api_makes_of_it(web, portal, tenant, signed_in):
    signed_in("member")
    assert post_upload(web, portal, "empty.txt", b"").status_code == 303
    assert [(f.name, f.size, f.content_type) for f in rows(tenant)] == [("empty.txt", 0, "text/plain")]


# --------------------------------------------------------------------------- CSRF and the order of checks


def test_an_upload_without_the_csrf_token_is_refused_and_stores_nothing(web, portal, tenant, signed_in, media_root):
    signed_in("member")
    for extra in ({}, JSON):
        assert post_upload(web, portal, "photo.png", PNG, token=None, **extra).status_code == 403
        assert post_upload(web, portal, "photo.png", PNG, token="x" * 32, **extra).status_code == 403
    assert rows(tenant) == []
    assert stored_objects(media_root) == []


def test_no_body_is_read_before_the_sign_in_and_permission_checks(web, portal, tenant, member, portal_login, settings):
    settings.FILES_MAX_UPLOAD_MB = 1
    body, multipart_type = form_body("small.txt", TEXT, token=None)
    huge = {"CONTENT_LENGTH": str(50 * 1024 * 1024)}  # reading it would fail the test (see above)
    anonymous = web.generic("POST", upload_url(portal), body, content_type=multipart_type, **huge)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(f"/portal/{portal.slug}/login/")
    portal.features = {**portal.features, "files": False}
    portal.save(update_fields=["features"])
    assert portal_login(member("owner"), portal).status_code == 302
    switched_off = web.generic("POST", upload_url(portal), body, content_type=multipart_type, **huge)
    assert switched_off.status_code == 403
    assert rows(tenant) == []


def test_a_successful_upload_leaves_only_its_own_object(web, portal, tenant, signed_in, media_root):
    signed_in("member")
    post_upload(web, portal, "a.txt", TEXT)
    post_upload(web, portal, "photo.png", ELF)  # refused: leaves nothing behind
    [file] = rows(tenant)
    assert object_exists(key=file.key)
    assert stored_objects(media_root) == [media_root / file.key]
