"""Each event type is published by the service that makes the change, in its transaction (through the API).

Billing, files and flows are reached by their URLs (and flows' seed by name):
integrations imports none of them (import-linter: sibling apps).
"""

from __future__ import annotations

import importlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.models import Membership, Tenant
from apps.identity.plugs import domain_event
from apps.identity.tests.invitations_support import ACCEPT, NEW_PASSWORD, token_from_mail
from apps.integrations.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def subscribed(make_endpoint, receiver, owner_api, run_jobs):
    """`subscribed("x.y")` → a function that runs its block's jobs and returns the events received."""

    def subscribe(event: str):
        endpoint = make_endpoint(events=[event])

        def received() -> list[dict]:
            return [json.loads(r.body) for r in receiver.hooks]

        return endpoint, received

    return subscribe


def _membership(tenant, user) -> Membership:
    with tenant_context(tenant):
        return Membership.objects.get(user=user)


def _invite_and_accept(owner_api, run_jobs) -> None:
    with run_jobs():
        invited = owner_api.post(
            "/api/v1/identity/invitations/", {"email": "newcomer@example.test", "role": "member"}, format="json"
        )
    assert invited.status_code == 201, invited.content
    with run_jobs():
        accepted = APIClient().post(
            ACCEPT, {"token": token_from_mail("newcomer@example.test"), "password": NEW_PASSWORD}, format="json"
        )
    assert accepted.status_code == 200, accepted.content


def test_member_added_on_invitation_acceptance(subscribed, owner_api, run_jobs):
    _, received = subscribed("member.added")
    _invite_and_accept(owner_api, run_jobs)
    [event] = received()
    assert event["type"] == "member.added"
    assert (event["data"]["role"], event["data"]["via"]) == ("member", "invitation")
    assert "newcomer@example.test" not in json.dumps(event)  # ids, not addresses


def test_invitation_accepted(subscribed, owner_api, run_jobs):
    _, received = subscribed("invitation.accepted")
    _invite_and_accept(owner_api, run_jobs)
    [event] = received()
    assert event["type"] == "invitation.accepted"
    assert set(event["data"]) == {"invitation_id", "user_id", "role"}


def test_member_removed(subscribed, owner_api, run_jobs, member, tenant):
    _, received = subscribed("member.removed")
    leaving = member("member")
    membership = _membership(tenant, leaving)
    with run_jobs():
        assert owner_api.delete(f"/api/v1/identity/members/{membership.id}/").status_code == 204
    [event] = received()
    assert event["data"] == {"membership_id": str(membership.id), "user_id": str(leaving.id), "role": "member"}


def test_member_role_changed(subscribed, owner_api, run_jobs, member, tenant):
    _, received = subscribed("member.role_changed")
    promoted = member("member")
    membership = _membership(tenant, promoted)
    with run_jobs():
        response = owner_api.patch(f"/api/v1/identity/members/{membership.id}/", {"role": "admin"}, format="json")
    assert response.status_code == 200, response.content
    [event] = received()
    assert (event["data"]["from"], event["data"]["to"], event["data"]["user_id"]) == (
        "member",
        "admin",
        str(promoted.id),
    )


def test_subscription_changed(subscribed, owner_api, run_jobs):
    _, received = subscribed("subscription.changed")
    with run_jobs():
        response = owner_api.post("/api/v1/billing/subscription/change/", {"plan": "enterprise"}, format="json")
    assert response.status_code == 200, response.content
    [event] = received()
    assert (event["data"]["plan"], event["data"]["source"]) == ("enterprise", "api")


def _upload(owner_api, run_jobs) -> str:
    with run_jobs():
        response = owner_api.post(
            "/api/v1/files/",
            {"file": SimpleUploadedFile("notes.txt", b"hello, webhooks\n", content_type="text/plain")},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def test_file_uploaded(subscribed, owner_api, run_jobs):
    _, received = subscribed("file.uploaded")
    file_id = _upload(owner_api, run_jobs)
    [event] = received()
    assert event["data"] == {"file_id": file_id, "name": "notes.txt", "size": 16, "content_type": "text/plain"}


def test_file_deleted(subscribed, owner_api, run_jobs):
    _, received = subscribed("file.deleted")
    file_id = _upload(owner_api, run_jobs)
    with run_jobs():
        assert owner_api.delete(f"/api/v1/files/{file_id}/").status_code == 204
    [event] = received()
    assert event["data"]["file_id"] == file_id


def test_flow_step_completed(subscribed, owner_api, owner, run_jobs, tenant):
    _, received = subscribed("flow.step_completed")
    with tenant_context(tenant):
        importlib.import_module("apps.flows.services.onboarding").onboarding_seed(tenant=tenant)
    with run_jobs():
        response = owner_api.post("/api/v1/flows/onboarding/steps/complete_profile/complete/")
    assert response.status_code == 200, response.content
    [event] = received()
    assert event["data"] == {"flow": "onboarding", "step": "complete_profile", "user_id": str(owner.id)}


def test_an_event_nobody_subscribes_to_writes_nothing(make_endpoint, tenant, owner):
    make_endpoint(events=["file.deleted"])
    tenant.refresh_from_db()  # on `pro` now
    with tenant_context(tenant):
        domain_event(tenant=tenant, event="member.added", data={"user_id": str(owner.id)})
        assert not WebhookEvent.objects.exists()
        domain_event(tenant=tenant, event="file.deleted", data={"file_id": "f"})
        assert WebhookEvent.objects.count() == 1


def test_a_rolled_back_change_sends_nothing(make_endpoint, tenant, owner, receiver, run_jobs):
    make_endpoint(events=["member.added"])
    tenant.refresh_from_db()
    with run_jobs(), tenant_context(tenant):
        try:
            with transaction.atomic():
                domain_event(tenant=tenant, event="member.added", data={"user_id": str(owner.id)})
                assert WebhookDelivery.objects.count() == 1
                raise RuntimeError("the change fails after publishing")
        except RuntimeError:
            pass
        assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_a_plan_without_webhooks_sends_nothing(make_endpoint, tenant, owner, receiver, run_jobs):
    make_endpoint(events=["member.added"])
    Tenant.objects.filter(pk=tenant.pk).update(plan_code="free")
    tenant.refresh_from_db()
    with run_jobs(), tenant_context(tenant):
        domain_event(tenant=tenant, event="member.added", data={"user_id": str(owner.id)})
    assert receiver.requests == []
