"""Invitations and idempotency keys stay inside their tenant: another tenant's are 404 and unchanged."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import connection

from apps.common.models import IdempotencyRecord
from apps.common.tenancy import tenant_context
from apps.identity.models import Invitation, InvitationToken, Membership, User
from apps.identity.tests.factories import PortalFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

LIST = "/api/v1/identity/invitations/"
ACCEPT = "/api/v1/identity/invitations/accept/"
TOKEN_RE = re.compile(r"/invitations/accept/\?token=([\w-]+)")
PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def portal_b(other_tenant):
    return PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex", is_default=True)


@pytest.fixture
def client_a(api_client, member, portal):
    return api_client(member("admin"), portal)


@pytest.fixture
def client_b(api_client, member, other_tenant, portal_b):
    return api_client(member("admin", of=other_tenant), portal_b)


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    def do(client, email: str, role: str = "member", **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(LIST, {"email": email, "role": role}, format="json", headers=headers or None)

    return do


@pytest.fixture
def b_invitation(client_b, invite):
    response = invite(client_b, "b-invitee@example.test")
    assert response.status_code == 201
    return response.json()


def test_a_cannot_list_bs_invitations(client_a, invite, b_invitation):
    invite(client_a, "a-invitee@example.test")
    emails = [row["email"] for row in client_a.get(LIST).json()["results"]]
    assert emails == ["a-invitee@example.test"]


def test_a_cannot_revoke_bs_invitation_and_it_still_works(client_a, b_invitation, other_tenant, api):
    assert client_a.delete(f"{LIST}{b_invitation['id']}/").status_code == 404
    with tenant_context(other_tenant):
        assert Invitation.objects.get(id=b_invitation["id"]).status == Invitation.Status.PENDING
    token = TOKEN_RE.search(mail.outbox[-1].body).group(1)
    accepted = api.post(ACCEPT, {"token": token, "password": PASSWORD}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["tenant"]["id"] == str(other_tenant.id)


def test_accepting_bs_invitation_joins_b_only(b_invitation, api, tenant, other_tenant):
    token = TOKEN_RE.search(mail.outbox[-1].body).group(1)
    assert api.post(ACCEPT, {"token": token, "password": PASSWORD}, format="json").status_code == 200
    user = User.objects.get(email="b-invitee@example.test")
    with tenant_context(tenant):
        assert not Membership.objects.filter(user=user).exists()
    with tenant_context(other_tenant):
        assert Membership.objects.filter(user=user).exists()


def test_a_tenant_id_in_the_body_is_ignored(client_a, tenant, other_tenant):
    response = client_a.post(
        LIST, {"email": "x@example.test", "role": "member", "tenant_id": str(other_tenant.id)}, format="json"
    )
    assert response.status_code == 201
    with tenant_context(other_tenant):
        assert not Invitation.objects.exists()
    with tenant_context(tenant):
        assert Invitation.objects.get().email == "x@example.test"
    assert InvitationToken.objects.filter(tenant=other_tenant).count() == 0


def test_idempotency_keys_do_not_cross_tenants(api_client, member, portal, portal_b, other_tenant, invite):
    """One person, admin in both tenants, sends the same key and body to each: two invitations."""
    person = member("admin")
    member("admin", user=person, of=other_tenant)
    in_a = invite(api_client(person, portal), "same@example.test", **{"Idempotency-Key": "k"})
    in_b = invite(api_client(person, portal_b), "same@example.test", **{"Idempotency-Key": "k"})
    assert in_a.status_code == in_b.status_code == 201
    assert "Idempotent-Replayed" not in in_b
    assert in_a.json()["id"] != in_b.json()["id"]
    with tenant_context(other_tenant):
        assert IdempotencyRecord.objects.count() == 1


@pytest.mark.postgres
def test_idempotency_records_have_forced_rls_and_raw_sql_sees_none(client_a, invite):
    invite(client_a, "rls@example.test", **{"Idempotency-Key": "k"})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'common_idempotencyrecord'"
        )
        assert cursor.fetchone() == (True, True)
        cursor.execute("SELECT count(*) FROM common_idempotencyrecord")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM identity_invitation")
        assert cursor.fetchone()[0] == 0
