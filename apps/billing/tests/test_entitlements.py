"""Entitlements bite with billing's own plans: seats, portals, features — and a change shows at once."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import RequestFactory
from rest_framework.request import Request
from rest_framework.response import Response

from apps.billing.models import Subscription
from apps.billing.services.subscriptions import subscription_create
from apps.common import request_context
from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.api.base import TenantAPIView
from apps.identity.models import Membership, Tenant

from .conftest import BILLING

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

INVITATIONS = "/api/v1/identity/invitations/"
ACCEPT = "/api/v1/identity/invitations/accept/"
PORTALS = "/api/v1/identity/portals/"
TOKEN_RE = re.compile(r"invitations/accept/\?token=(?P<token>[\w-]+)")


def invite(client, email: str):
    return client.post(INVITATIONS, {"email": email, "role": "member"}, format="json")


def token_for(email: str) -> str:
    message = [m for m in mail.outbox if m.to == [email]][-1]
    match = TOKEN_RE.search(message.body)
    assert match, message.body
    return match["token"]


def fill_seats(member, count: int) -> None:
    for _ in range(count):
        member("member")


def test_the_free_plans_limits_are_what_identity_is_told(tenant):
    assert (plugs.seat_limit(tenant), plugs.portal_limit(tenant)) == (5, 3)
    assert plugs.storage_limit_bytes(tenant) == 100 * 1024**2
    assert set(plugs.plans()) == {"free", "pro", "enterprise"}


def test_free_plan_seat_limit_blocks_the_extra_invitation(owner_api, member):
    fill_seats(member, 3)  # owner + 3 members = 4 seats of 5
    assert invite(owner_api, "fifth@example.test").status_code == 201  # the pending invitation is the 5th seat
    response = invite(owner_api, "sixth@example.test")
    assert response.status_code == 409
    assert response.json()["seat_limit"] == 5


def test_free_plan_seat_limit_blocks_acceptance(owner_api, member, api, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the mail is sent once the invitation commits
        assert invite(owner_api, "late@example.test").status_code == 201
    token = token_for("late@example.test")
    fill_seats(member, 4)  # the seats fill up behind the invitation: owner + 4 members = 5
    response = api.post(ACCEPT, {"token": token, "password": "a brand new passphrase 42"}, format="json")
    assert response.status_code == 409
    with tenant_context(tenant):
        assert Membership.objects.count() == 5


def test_a_plan_change_is_seen_at_the_next_request(owner_api, member, tenant):
    fill_seats(member, 4)
    assert invite(owner_api, "waiting@example.test").status_code == 409
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json").status_code == 200
    assert invite(owner_api, "waiting@example.test").status_code == 201  # pro: 25 seats, no restart, no cache wait
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": "free"}, format="json").status_code == 200
    assert invite(owner_api, "one-more@example.test").status_code == 409


def test_free_plan_portal_limit_is_409_on_creation(owner_api):
    for n in (1, 2):
        response = owner_api.post(PORTALS, {"slug": f"acme-extra-{n}", "name": f"Extra {n}"}, format="json")
        assert response.status_code == 201, response.content
    response = owner_api.post(PORTALS, {"slug": "acme-extra-3", "name": "Extra 3"}, format="json")
    assert response.status_code == 409
    assert response.json()["limit"] == 3


def test_a_canceled_subscription_falls_back_to_the_free_plans_entitlements(tenant):
    with tenant_context(tenant):
        Tenant.objects.filter(id=tenant.id).update(plan_code="enterprise")
        tenant.refresh_from_db()
        subscription_create(tenant=tenant)
    assert plugs.seat_limit(tenant) is None
    with tenant_context(tenant):
        Subscription.objects.update(status="canceled")
    Tenant.objects.filter(id=tenant.id).update(subscription_status="canceled")
    tenant.refresh_from_db()
    assert plugs.seat_limit(tenant) == 5


# --- the feature gate of API views --------------------------------------------------------------


class AnalyticsReportProbe(TenantAPIView):
    """A view behind a feature that free lacks and pro has."""

    required_permissions = {"get": set()}
    required_feature = "analytics"

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def test_a_feature_outside_the_plan_is_403_and_a_change_opens_it(owner_api, owner, portal, login, tenant):
    access = login(owner, portal)["access"]

    def call():
        # Called without the middleware stack, so the log context the authentication binds is reset here.
        request = RequestFactory().get("/probe/", HTTP_AUTHORIZATION=f"Bearer {access}")
        token = request_context.reset()
        try:
            return AnalyticsReportProbe.as_view()(request)
        finally:
            request_context.restore(token)

    refused = call()
    assert refused.status_code == 403
    assert refused.data["type"].endswith("/feature_not_in_plan")
    assert refused.data["feature"] == "analytics"
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json").status_code == 200
    assert call().status_code == 200
