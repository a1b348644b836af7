"""`invitations/`: invite, list, revoke and accept, as an admin and an invitee see them."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.models import AuditEvent, Invitation, InvitationToken, Membership, Role, User
from apps.identity.tests.factories import PASSWORD, UserFactory, make_membership
from apps.identity.tests.invitations_support import ACCEPT, LINK_RE, LIST, NEW_PASSWORD, token_from_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def detail(invitation_id) -> str:
    return f"{LIST}{invitation_id}/"


def audit_actions(tenant) -> list[str]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


# --- the happy path ---------------------------------------------------------------------------


def test_invitee_gets_a_mail_accepts_it_and_can_sign_in(admin_api, admin, invite, api, login, portal, tenant):
    response = invite(admin_api, "New.Person@Example.test", "member")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "New.Person@example.test"
    assert body["role"] == "member"
    assert body["status"] == "pending"
    assert body["invited_by"] == {"id": str(admin.id), "email": admin.email}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["New.Person@example.test"]
    assert "Acme Test" in message.subject
    match = LINK_RE.search(message.body)
    assert match, message.body
    assert match["portal"] == portal.slug  # the tenant's default portal
    token = match["token"]
    assert match.group(0) in message.alternatives[0][0]
    # Only the hash is stored; the raw token rests nowhere in the database (not in the outbox either).
    stored = InvitationToken.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert str(stored.invitation_id) == body["id"]
    assert all(token not in str(m.kwargs) for m in OutboxMessage.objects.all())

    accepted = api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD, "name": "New Person"}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json() == {
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
        "role": "member",
    }
    user = User.objects.get(email__iexact="new.person@example.test")
    assert user.email_verified
    assert user.name == "New Person"
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role.code == "member"
        assert Invitation.objects.get().status == Invitation.Status.ACCEPTED
    tokens = login(user, portal, password=NEW_PASSWORD)
    assert tokens["token_type"] == "Bearer"
    assert audit_actions(tenant)[-2:] == ["invitation.accepted", "auth.login"]
    assert "invitation.created" in audit_actions(tenant)


def test_list_shows_open_invitations_newest_first(admin_api, admin, invite):
    for n in range(3):
        assert invite(admin_api, f"p{n}@example.test").status_code == 201
    response = admin_api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    assert [r["email"] for r in body["results"]] == ["p2@example.test", "p1@example.test", "p0@example.test"]
    row = body["results"][0]
    assert set(row) == {"id", "email", "role", "status", "expires_at", "created_at", "invited_by"}
    assert row["invited_by"] == {"id": str(admin.id), "email": admin.email}
    page = admin_api.get(LIST, {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert page["next"]


def test_list_query_count_does_not_grow_with_rows(admin_api, admin, tenant):
    def count_for(rows: int) -> int:
        with tenant_context(tenant):
            Invitation.objects.all().delete()
            role = Role.objects.get(code="member")
            Invitation.objects.bulk_create(
                Invitation(
                    tenant=tenant,
                    email=f"q{n}@example.test",
                    role=role,
                    invited_by=admin,
                    expires_at=timezone.now() + timedelta(days=7),
                )
                for n in range(rows)
            )
        with CaptureQueriesContext(connections["default"]) as queries:
            response = admin_api.get(LIST, {"page_size": 100})
        assert len(response.json()["results"]) == rows
        # The request's savepoints exist only because the test wraps it in a transaction.
        return len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]])

    admin_api.get(LIST)  # warm the in-process role map, as any earlier request would have
    counts = {rows: count_for(rows) for rows in (1, 20, 100)}
    assert len(set(counts.values())) == 1, counts
    assert counts[1] <= 4, counts


# --- single use, expiry, revocation -------------------------------------------------------------


def test_a_token_works_once(admin_api, invite, api):
    invite(admin_api)
    token = token_from_mail("new@example.test")
    assert api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 200
    again = api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")
    assert again.status_code == 400
    unknown = api.post(ACCEPT, {"token": "not-a-token", "password": NEW_PASSWORD}, format="json")
    assert unknown.status_code == 400
    # Used and unknown tokens look alike.
    assert again.json() == unknown.json()
    assert "invalid or has expired" in again.json()["detail"]


def test_an_expired_invitation_cannot_be_accepted_and_is_listed_as_expired(admin_api, invite, api, tenant):
    invite(admin_api)
    token = token_from_mail("new@example.test")
    past = timezone.now() - timedelta(seconds=1)
    with tenant_context(tenant):
        Invitation.objects.update(expires_at=past)
    InvitationToken.objects.update(expires_at=past)
    response = api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert not User.objects.filter(email="new@example.test").exists()
    assert admin_api.get(LIST).json()["results"][0]["status"] == "expired"
    # An expired invitation holds no seat and does not block a new one.
    assert invite(admin_api).status_code == 201


def test_a_revoked_invitation_token_is_dead(admin_api, invite, api, tenant):
    created = invite(admin_api).json()
    token = token_from_mail("new@example.test")
    assert admin_api.delete(detail(created["id"])).status_code == 204
    assert admin_api.get(LIST).json()["results"] == []
    assert api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 400
    assert admin_api.delete(detail(created["id"])).status_code == 404
    assert "invitation.revoked" in audit_actions(tenant)
    with tenant_context(tenant):
        assert Invitation.objects.get().status == Invitation.Status.REVOKED
    # Revoked, the e-mail may be invited again.
    assert invite(admin_api).status_code == 201


def test_unknown_invitation_id_is_404(admin_api):
    assert admin_api.delete(detail("00000000-0000-0000-0000-000000000000")).status_code == 404


# --- accepting: new and existing users ----------------------------------------------------------


def test_a_new_user_must_choose_a_valid_password(admin_api, invite, api):
    invite(admin_api)
    token = token_from_mail("new@example.test")
    missing = api.post(ACCEPT, {"token": token}, format="json")
    assert missing.status_code == 400
    assert "password" in missing.json()["errors"]
    weak = api.post(ACCEPT, {"token": token, "password": "short"}, format="json")
    assert weak.status_code == 400
    assert weak.json()["errors"]["password"]
    assert not User.objects.filter(email="new@example.test").exists()
    # Nothing was used up: the token still works with a good password.
    assert api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 200


def test_an_existing_user_joins_with_their_own_password_only(admin_api, invite, api, login, tenant, other_tenant):
    from apps.identity.tests.factories import PortalFactory

    elsewhere = UserFactory(email="known@example.test", email_verified=True)
    make_membership(user=elsewhere, tenant=other_tenant, role="admin")
    invite(admin_api, "KNOWN@example.test", "admin")
    token = token_from_mail("KNOWN@example.test")

    # The mailbox alone does not carry a membership to an account someone else may know the password of.
    missing = api.post(ACCEPT, {"token": token}, format="json")
    assert missing.status_code == 400, missing.content
    assert "password" in missing.json()["errors"]
    wrong = api.post(ACCEPT, {"token": token, "password": "not-their-password"}, format="json")
    assert wrong.status_code == 401, wrong.content
    with tenant_context(tenant):
        assert not Membership.objects.filter(user=elsewhere).exists()

    response = api.post(ACCEPT, {"token": token, "password": PASSWORD}, format="json")  # the token still works
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"
    elsewhere.refresh_from_db()
    assert elsewhere.check_password(PASSWORD)  # unchanged
    assert elsewhere.email_verified
    with tenant_context(tenant):
        assert Membership.objects.get(user=elsewhere).role.code == "admin"
    portal_b = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    assert login(elsewhere, portal_b)["access"]  # the other membership is untouched


@pytest.mark.django_db(transaction=True)  # the lockout is audited durably, on a second connection that commits
def test_wrong_passwords_on_accept_count_towards_the_sign_in_lockout(admin_api, invite, api, settings):
    UserFactory(email="guarded@example.test", email_verified=True)
    invite(admin_api, "guarded@example.test", "member")
    token = token_from_mail("guarded@example.test")
    statuses = [
        api.post(ACCEPT, {"token": token, "password": f"guess-{n}"}, format="json").status_code for n in range(12)
    ]
    assert statuses[0] == 401
    assert statuses[-1] == 429, statuses
    assert api.post(ACCEPT, {"token": token, "password": PASSWORD}, format="json").status_code == 429


def test_accepting_when_already_a_member_is_409(admin_api, invite, api, tenant):
    invite(admin_api, "late@example.test")
    token = token_from_mail("late@example.test")
    make_membership(user=UserFactory(email="late@example.test"), tenant=tenant, role="member")
    response = api.post(ACCEPT, {"token": token}, format="json")
    assert response.status_code == 409


# --- creating: rules ----------------------------------------------------------------------------


def test_inviting_a_member_or_a_pending_email_is_409(admin_api, invite, member):
    existing = member("member")
    assert invite(admin_api, existing.email.upper()).status_code == 409
    assert invite(admin_api, "twice@example.test").status_code == 201
    again = invite(admin_api, "Twice@example.test")
    assert again.status_code == 409
    assert "pending invitation" in again.json()["detail"]
    assert len(mail.outbox) == 1


def test_role_must_exist_in_the_tenant(admin_api, invite, tenant, other_tenant):
    with tenant_context(other_tenant):
        Role.objects.create(tenant=other_tenant, code="globex-only", name="Globex only", permissions=[])
    with tenant_context(tenant):
        Role.objects.create(tenant=tenant, code="viewer", name="Viewer", permissions=["identity.view_member"])
    unknown = invite(admin_api, "a@example.test", "nope")
    assert unknown.status_code == 400
    assert "role" in unknown.json()["errors"]
    assert invite(admin_api, "b@example.test", "globex-only").status_code == 400
    custom = invite(admin_api, "c@example.test", "viewer")
    assert custom.status_code == 201
    assert custom.json()["role"] == "viewer"


def test_body_fields_are_validated(admin_api, invite):
    response = invite(admin_api, "not-an-email", "member")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_only_an_owner_invites_an_owner(admin_api, invite, member, api_client, portal):
    denied = invite(admin_api, "boss@example.test", "owner")
    assert denied.status_code == 403
    owner_api = api_client(member("owner"), portal)
    assert invite(owner_api, "boss@example.test", "owner").status_code == 201


def test_an_admin_cannot_invite_to_a_role_granting_more_than_they_hold(admin_api, invite, tenant):
    with tenant_context(tenant):
        Role.objects.create(
            tenant=tenant, code="billing-boss", name="Billing boss", permissions=["billing.manage_subscription"]
        )
    assert invite(admin_api, "x@example.test", "billing-boss").status_code == 403


def test_a_member_without_the_permission_is_403_everywhere(api_client, member, portal, admin_api, invite):
    created = invite(admin_api).json()
    client = api_client(member("member"), portal)
    assert client.get(LIST).status_code == 403
    assert invite(client, "other@example.test").status_code == 403
    assert client.delete(detail(created["id"])).status_code == 403
    assert admin_api.get(LIST).json()["results"][0]["id"] == created["id"]


def test_without_a_token_it_is_401(api):
    assert api.get(LIST).status_code == 401
    assert api.post(LIST, {"email": "a@example.test", "role": "member"}, format="json").status_code == 401


# --- seats --------------------------------------------------------------------------------------


@pytest.fixture
def seat_limit(monkeypatch):
    def set_limit(limit: int | None) -> None:
        monkeypatch.setattr(plugs.plugs, "seat_limit", lambda tenant: limit)

    return set_limit


def test_pending_invitations_count_as_seats(admin_api, invite, seat_limit):
    seat_limit(2)  # the admin holds one seat
    assert invite(admin_api, "one@example.test").status_code == 201
    full = invite(admin_api, "two@example.test")
    assert full.status_code == 409
    assert "seat" in full.json()["detail"]
    # Revoking frees the seat.
    pending = admin_api.get(LIST).json()["results"][0]
    assert admin_api.delete(detail(pending["id"])).status_code == 204
    assert invite(admin_api, "two@example.test").status_code == 201


def test_seat_limit_reached_at_accept_time_is_409(admin_api, invite, api, seat_limit, member, tenant):
    invite(admin_api)
    token = token_from_mail("new@example.test")
    member("member")
    seat_limit(2)  # lowered since: the admin and the new member fill it
    response = api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 409
    with tenant_context(tenant):
        assert Membership.objects.count() == 2
    seat_limit(None)
    assert api.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json").status_code == 200


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_invitation(admin_api, invite, tenant):
    first = invite(admin_api, "idem@example.test", **{"Idempotency-Key": "invite-1"})
    second = invite(admin_api, "idem@example.test", **{"Idempotency-Key": "invite-1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    with tenant_context(tenant):
        assert Invitation.objects.count() == 1
    assert len(mail.outbox) == 1
    # The same key with another request is a conflict, not a second invitation.
    other = invite(admin_api, "someone-else@example.test", **{"Idempotency-Key": "invite-1"})
    assert other.status_code == 409
    with tenant_context(tenant):
        assert Invitation.objects.count() == 1


def test_users_do_not_share_idempotency_keys(admin_api, invite, api_client, member, portal, tenant):
    other_admin = api_client(member("admin"), portal)
    a = invite(admin_api, "a@example.test", **{"Idempotency-Key": "shared"})
    b = invite(other_admin, "b@example.test", **{"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b


def test_a_refused_invitation_does_not_use_up_its_key(admin_api, invite):
    assert invite(admin_api, "k@example.test", "nope", **{"Idempotency-Key": "k"}).status_code == 400
    assert invite(admin_api, "k@example.test", "nope", **{"Idempotency-Key": "k"}).status_code == 400
    # Fixed request, same key (another request now: the first ones were not kept).
    assert invite(admin_api, "k@example.test", "member", **{"Idempotency-Key": "k"}).status_code == 201


def test_an_overlong_idempotency_key_is_400(admin_api, invite, tenant):
    response = invite(admin_api, "long@example.test", **{"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    with tenant_context(tenant):
        assert not Invitation.objects.exists()


# --- the accept race ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_parallel_accepts_of_one_token_make_one_member(admin_api, invite, tenant):
    invite(admin_api, "race@example.test")
    token = token_from_mail("race@example.test")
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[Exception] = []

    def accept() -> None:
        try:
            barrier.wait()
            response = APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")
            statuses.append(response.status_code)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(statuses) == [200, 400]
    user = User.objects.get(email="race@example.test")
    with tenant_context(tenant):
        assert Membership.objects.filter(user=user).count() == 1
        assert audit_actions(tenant).count("invitation.accepted") == 1
