"""Who may do what with files (docs/api.md, "System roles"), bearer only, and `Idempotency-Key` on uploads."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.files.models import File
from apps.files.tests.support import FILES, PNG, TEXT, multipart, upload
from apps.identity.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def count(tenant) -> int:
    with tenant_context(tenant):
        return File.objects.count()


def test_a_member_uploads_lists_and_reads_but_cannot_delete(member_api, tenant):
    file_id = upload(member_api, "a.png", PNG, content_type="image/png").json()["id"]
    assert member_api.get(FILES).status_code == 200
    assert member_api.get(f"{FILES}{file_id}/").status_code == 200
    refused = member_api.delete(f"{FILES}{file_id}/")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert count(tenant) == 1


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_delete(api_client, member, portal, tenant, role, django_capture_on_commit_callbacks):
    client = api_client(member(role), portal)
    file_id = upload(client, "a.png", PNG, content_type="image/png").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{FILES}{file_id}/").status_code == 204
    assert count(tenant) == 0
    with tenant_context(tenant):
        actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["file.uploaded", "file.deleted"]


def test_no_bearer_is_401_before_the_body_is_read(tenant):
    body, content_type = multipart("a.png", PNG, content_type="image/png")
    response = APIClient().generic("POST", FILES, body, content_type=content_type)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert APIClient().get(FILES).status_code == 401
    assert count(tenant) == 0


def test_bearer_uploads_need_no_csrf_token_and_cookies_do_not_authenticate(api_client, owner, portal, login, tenant):
    strict = APIClient(enforce_csrf_checks=True)
    strict.credentials(HTTP_AUTHORIZATION=f"Bearer {login(owner, portal)['access']}")
    assert upload(strict, "a.png", PNG, content_type="image/png").status_code == 201
    cookie_only = APIClient(enforce_csrf_checks=True)
    cookie_only.force_login(owner)  # a Django session cookie is no API credential
    assert upload(cookie_only, "b.png", PNG, content_type="image/png").status_code == 401
    assert count(tenant) == 1


def test_missing_file_field_is_400_and_a_json_body_415(owner_api):
    body, content_type = multipart("a.png", PNG, content_type="image/png", field="attachment")
    response = owner_api.generic("POST", FILES, body, content_type=content_type)
    assert response.status_code == 400
    assert "file" in response.json()["errors"]
    assert owner_api.post(FILES, {"file": "x"}, format="json").status_code == 415


def test_idempotency_key_replays_the_same_upload_and_refuses_another(owner_api, tenant):
    first = upload(owner_api, "a.txt", TEXT, content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-1")
    again = upload(owner_api, "a.txt", TEXT, content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert count(tenant) == 1
    other_content = upload(owner_api, "a.txt", TEXT + b"!", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-1")
    other_name = upload(owner_api, "b.txt", TEXT, content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other_content.status_code == other_name.status_code == 409
    assert count(tenant) == 1
