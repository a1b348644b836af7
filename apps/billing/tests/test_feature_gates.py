"""Plan features bite on the production endpoints: custom roles, files and onboarding, at the next request."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.common.tenancy import tenant_context
from apps.identity.models import Role, Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

ROLES = "/api/v1/identity/roles/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _plan(tenant: Tenant, code: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(plan_code=code)


def test_custom_roles_need_a_plan_that_has_them(owner_api, tenant):
    body = {"code": "support", "name": "Support", "permissions": ["identity.view_member"]}
    refused = owner_api.post(ROLES, body, format="json")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/feature_not_in_plan")
    with tenant_context(tenant):
        assert not Role.objects.filter(tenant_id=tenant.id, code="support").exists()

    _plan(tenant, "pro")  # seen at the next request
    assert owner_api.post(ROLES, body, format="json").status_code == 201

    _plan(tenant, "free")  # after a downgrade the role can no longer be changed, but it can be deleted
    changed = owner_api.patch(f"{ROLES}support/", {"name": "Helpdesk"}, format="json")
    assert changed.status_code == 403
    assert changed.json()["type"].endswith("/feature_not_in_plan")
    assert owner_api.delete(f"{ROLES}support/").status_code == 204


def test_files_and_onboarding_endpoints_follow_the_plan(owner_api, tenant, monkeypatch):
    from apps.identity import plugs

    # A plan without files and onboarding (none of the seeded plans is one): the plug's answer is the plan.
    monkeypatch.setattr(plugs.plugs, "plan_features", lambda tenant: frozenset({"portals"}))
    for path in ("/api/v1/files/", "/api/v1/flows/onboarding/checklist/", "/api/v1/flows/runs/"):
        response = owner_api.get(path)
        assert response.status_code == 403, path
        assert response.json()["type"].endswith("/feature_not_in_plan")
    upload = owner_api.post("/api/v1/files/", {"file": SimpleUploadedFile("a.png", PNG)}, format="multipart")
    assert upload.status_code == 403
    monkeypatch.undo()
    assert owner_api.get("/api/v1/files/").status_code == 200
    assert owner_api.get("/api/v1/flows/onboarding/checklist/").status_code == 200


def test_api_keys_need_a_plan_that_has_them_and_made_ones_keep_working(owner_api, tenant):
    body = {"name": "ci", "role": "member"}
    refused = owner_api.post("/api/v1/integrations/api-keys/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/feature_not_in_plan")

    _plan(tenant, "pro")
    made = owner_api.post("/api/v1/integrations/api-keys/", body, format="json")
    assert made.status_code == 201
    _plan(tenant, "free")  # a downgrade stops new keys, not the ones already handed out
    from rest_framework.test import APIClient

    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {made.json()['key']}")
    assert machine.get("/api/v1/identity/members/").status_code == 200


def test_a_plan_row_is_read_once_a_minute_per_process(owner_api, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.billing import selectors

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_api.get("/api/v1/files/").status_code == 200
        return len(captured.captured_queries)

    cold = queries()
    assert queries() == cold - 1  # the plan's row is kept
    later = time.monotonic() + selectors.PLAN_CACHE_SECONDS + 1
    monkeypatch.setattr(selectors, "_clock", lambda: later)
    assert queries() == cold  # read again after a minute: a catalogue edit shows
