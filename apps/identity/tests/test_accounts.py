"""Sign-up, e-mail verification and resend through the API: no enumeration, keys that work once."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.core import mail, signing

from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity import plugs
from apps.identity.links import EMAIL_VERIFY_SALT, email_verify_key
from apps.identity.models import Membership, PlatformAuditEvent, Portal, Tenant, User
from apps.identity.tests.factories import PortalFactory, UserFactory
from apps.identity.tests.hashing_support import COUNTING_HASHER, CountingHasher

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = "/api/v1/identity/auth/register/"
LOGIN = "/api/v1/identity/auth/login/"
VERIFY = "/api/v1/identity/auth/email/verify/"
RESEND = "/api/v1/identity/auth/email/resend/"
STRONG = "a sturdy new passphrase 42"


@pytest.fixture(autouse=True)
def _mail_jobs_run_inline(embedded_queues):  # noqa: F811 - the imported fixture
    """Mail jobs run right after commit, as in the embedded setup, even where REDIS_URL is set."""


@pytest.fixture
def open_portal(portal):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    return portal


def _key_from(message) -> str:
    match = re.search(r"/email/verify/\?key=(\S+)", message.body)
    assert match, message.body
    return match.group(1)


# --------------------------------------------------------------------------- register


def test_register_creates_a_member_and_mails_a_verification_link(api, open_portal, tenant, login):
    response = api.post(
        REGISTER, {"email": "New.Person@Example.test", "password": STRONG, "portal": open_portal.slug, "name": "Nia"}
    )
    assert response.status_code == 202, response.content
    user = User.objects.get(email__iexact="new.person@example.test")
    assert user.name == "Nia"
    assert not user.email_verified
    assert not user.has_usable_password()  # the password waits for proof of the mailbox
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role.code == "member"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert f"/portal/{open_portal.slug}/email/verify/?key=" in mail.outbox[0].body
    # Before the link is followed the right password is refused with a reason; after, it signs in.
    early = api.post(LOGIN, {"email": user.email, "password": STRONG, "portal": open_portal.slug}, format="json")
    assert early.status_code == 403
    assert early.json()["type"].endswith("/email_unverified")
    assert api.post(VERIFY, {"key": _key_from(mail.outbox[0])}, format="json").status_code == 204
    assert login(user, open_portal, password=STRONG)["access"]


def test_register_with_a_known_email_looks_the_same_and_changes_nothing(api, open_portal, member, other_tenant):
    known = member("admin")
    old_hash = known.password
    body_new = api.post(REGISTER, {"email": "fresh@example.test", "password": STRONG, "portal": open_portal.slug})
    mail.outbox.clear()
    body_known = api.post(
        REGISTER, {"email": known.email.upper(), "password": STRONG, "portal": open_portal.slug, "name": "X"}
    )
    assert body_new.status_code == body_known.status_code == 202
    assert body_new.json() == body_known.json()
    known.refresh_from_db()
    assert known.password == old_hash
    assert known.name != "X"
    assert User.objects.filter(email__iexact=known.email).count() == 1
    # The owner of the address hears about it; no verification link is sent.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [known.email]
    assert "already has an account" in mail.outbox[0].body
    assert "key=" not in mail.outbox[0].body
    assert PlatformAuditEvent.objects.filter(action="auth.register_existing", actor_id=known.id).exists()


def test_register_known_email_of_another_tenant_does_not_join_this_tenant(api, open_portal, tenant, other_tenant):
    outsider = UserFactory()
    from apps.identity.tests.factories import make_membership

    make_membership(user=outsider, tenant=other_tenant)
    assert (
        api.post(REGISTER, {"email": outsider.email, "password": STRONG, "portal": open_portal.slug}).status_code == 202
    )
    with tenant_context(tenant):
        assert not Membership.objects.filter(user=outsider).exists()


@pytest.mark.parametrize("policy", [Portal.SignupPolicy.CLOSED, Portal.SignupPolicy.INVITE])
def test_register_on_a_portal_that_is_not_open_is_403(api, portal, policy):
    portal.signup_policy = policy
    portal.save()
    response = api.post(REGISTER, {"email": "someone@example.test", "password": STRONG, "portal": portal.slug})
    assert response.status_code == 403
    assert not User.objects.filter(email="someone@example.test").exists()
    assert mail.outbox == []


def test_register_unknown_or_inactive_portal_is_404(api, open_portal):
    assert api.post(REGISTER, {"email": "a@example.test", "password": STRONG, "portal": "nope"}).status_code == 404
    open_portal.active = False
    open_portal.save()
    response = api.post(REGISTER, {"email": "a@example.test", "password": STRONG, "portal": open_portal.slug})
    assert response.status_code == 404


def test_register_on_a_suspended_tenant_is_403(api, open_portal, tenant):
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    response = api.post(REGISTER, {"email": "a@example.test", "password": STRONG, "portal": open_portal.slug})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "password",
    [
        "short1A!",  # under 12 characters
        "password1234",  # common
        "839201938475629",  # numeric only
        "weakling.example.test",  # too similar to the e-mail
    ],
)
def test_register_weak_password_is_400_with_password_errors(api, open_portal, password):
    response = api.post(REGISTER, {"email": "weakling@example.test", "password": password, "portal": open_portal.slug})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"]["password"]
    assert not User.objects.filter(email="weakling@example.test").exists()


def test_register_weak_password_is_400_for_a_known_email_too(api, open_portal, member):
    known = member()
    response = api.post(REGISTER, {"email": known.email, "password": "short", "portal": open_portal.slug})
    assert response.status_code == 400
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["not-an-email", "a@", "", "x" * 300 + "@example.test"])
def test_register_malformed_email_is_400(api, open_portal, email):
    response = api.post(REGISTER, {"email": email, "password": STRONG, "portal": open_portal.slug})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


@pytest.mark.parametrize("body", [{}, {"email": ["a"], "password": {"x": 1}, "portal": None}, "garbage"])
def test_register_garbage_is_400_not_500(api, open_portal, body):
    assert api.post(REGISTER, body, format="json").status_code == 400


def test_register_respects_the_seat_limit_for_known_and_unknown_alike(api, open_portal, member, monkeypatch):
    known = member()
    monkeypatch.setattr(plugs.plugs, "seat_limit", lambda tenant: 1)
    fresh = api.post(REGISTER, {"email": "late@example.test", "password": STRONG, "portal": open_portal.slug})
    again = api.post(REGISTER, {"email": known.email, "password": STRONG, "portal": open_portal.slug})
    assert fresh.status_code == again.status_code == 409
    assert fresh.json() == again.json()
    assert not User.objects.filter(email="late@example.test").exists()


def test_register_member_not_admitted_by_the_portal_gets_a_link_to_one_they_may_enter(api, open_portal, tenant):
    open_portal.admitted_roles = ["owner", "admin"]
    open_portal.save()
    PortalFactory(tenant=tenant, slug="members-door", admitted_roles=["member"])
    assert (
        api.post(REGISTER, {"email": "m@example.test", "password": STRONG, "portal": open_portal.slug}).status_code
        == 202
    )
    user = User.objects.get(email="m@example.test")
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role.code == "member"
    assert "/portal/members-door/email/verify/" in mail.outbox[0].body


# --------------------------------------------------------------------------- verification


def test_verification_key_works_once(api, open_portal):
    api.post(REGISTER, {"email": "v@example.test", "password": STRONG, "portal": open_portal.slug})
    key = _key_from(mail.outbox[0])
    assert api.post(VERIFY, {"key": key}).status_code == 204
    assert User.objects.get(email="v@example.test").email_verified
    replay = api.post(VERIFY, {"key": key})
    assert replay.status_code == 400
    assert replay.json()["errors"]["key"]
    assert PlatformAuditEvent.objects.filter(action="auth.email_verified").count() == 1


def test_verification_key_expires(api, member):
    user = member()
    key = email_verify_key(user=user)
    later = signing.time.time() + 3 * 24 * 3600 + 5
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = api.post(VERIFY, {"key": key})
    assert response.status_code == 400
    user.refresh_from_db()
    assert not user.email_verified


@pytest.mark.parametrize(
    "key",
    [
        "nonsense",
        "",
        "a:b:c",
        signing.dumps({"u": "00000000-0000-0000-0000-000000000000", "e": "x@example.test"}, salt=EMAIL_VERIFY_SALT),
        signing.dumps(["not", "a", "dict"], salt=EMAIL_VERIFY_SALT),
        signing.dumps({"u": "not-a-uuid", "e": "x"}, salt=EMAIL_VERIFY_SALT),
    ],
)
def test_bad_verification_keys_are_400(api, key):
    assert api.post(VERIFY, {"key": key}).status_code == 400


def test_verification_key_signed_with_another_salt_is_refused(api, member):
    """A value Django signed for another purpose (another salt) is not a verification key."""
    user = member()
    forged = signing.dumps({"u": str(user.id), "e": user.email.lower()}, salt="something-else")
    assert api.post(VERIFY, {"key": forged}).status_code == 400
    assert api.post(VERIFY, {"key": signing.dumps({"u": str(user.id), "e": user.email.lower()})}).status_code == 400
    user.refresh_from_db()
    assert not user.email_verified


def test_verification_key_for_an_old_address_does_not_verify_a_new_one(api, member):
    user = member()
    key = email_verify_key(user=user)
    user.email = "changed@example.test"
    user.save()
    assert api.post(VERIFY, {"key": key}).status_code == 400


def test_verification_key_of_a_deactivated_user_is_refused(api, member):
    user = member()
    key = email_verify_key(user=user)
    user.is_active = False
    user.save()
    assert api.post(VERIFY, {"key": key}).status_code == 400


# --------------------------------------------------------------------------- resend


def test_resend_is_the_same_for_unknown_verified_and_unverified(api, member, portal):
    unverified = member()
    verified = member()
    verified.email_verified = True
    verified.save()
    answers = [
        api.post(RESEND, {"email": email, "portal": portal.slug})
        for email in ("ghost@example.test", verified.email, unverified.email)
    ]
    assert {a.status_code for a in answers} == {202}
    assert answers[0].json() == answers[1].json() == answers[2].json()
    # Only the unverified account gets a mail, with a working key.
    assert [m.to for m in mail.outbox] == [[unverified.email]]
    assert api.post(VERIFY, {"key": _key_from(mail.outbox[0])}).status_code == 204


def test_resend_without_portal_links_to_the_latest_sign_in(api, member, portal, tenant, login):
    user = member()
    other = PortalFactory(tenant=tenant, slug="second-door")
    login(user, portal)
    login(user, other)
    assert api.post(RESEND, {"email": user.email}).status_code == 202
    assert f"/portal/{other.slug}/email/verify/" in mail.outbox[0].body


def test_resend_to_a_portal_the_user_may_not_enter_falls_back(api, member, portal, other_tenant):
    user = member()
    foreign = PortalFactory(tenant=other_tenant, slug="foreign")
    assert api.post(RESEND, {"email": user.email, "portal": foreign.slug}).status_code == 202
    assert f"/portal/{portal.slug}/email/verify/" in mail.outbox[0].body


def test_resend_with_an_unknown_portal_is_still_202(api, member, portal):
    user = member()
    assert api.post(RESEND, {"email": user.email, "portal": "does-not-exist"}).status_code == 202
    assert f"/portal/{portal.slug}/email/verify/" in mail.outbox[0].body


def test_old_verification_key_stays_valid_until_used_and_then_all_die(api, member):
    """Keys are stateless: several sent keys all work until the address is verified, then none does."""
    user = member()
    first = email_verify_key(user=user)
    with mock.patch("django.core.signing.time.time", return_value=signing.time.time() + 10):
        second = email_verify_key(user=user)
    assert first != second
    assert api.post(VERIFY, {"key": second}).status_code == 204
    assert api.post(VERIFY, {"key": first}).status_code == 400


def test_no_live_key_rests_in_the_outbox(api, open_portal):
    from apps.common.models import OutboxMessage

    api.post(REGISTER, {"email": "o@example.test", "password": STRONG, "portal": open_portal.slug})
    key = _key_from(mail.outbox[0])
    for message in OutboxMessage.objects.all():
        assert key not in str(message.kwargs)
        assert STRONG not in str(message.kwargs)


def test_password_never_reaches_the_audit_trail(api, open_portal):
    api.post(REGISTER, {"email": "p@example.test", "password": STRONG, "portal": open_portal.slug})
    from apps.common.tenancy import unscoped
    from apps.identity.models import AuditEvent

    with unscoped():
        rows = list(AuditEvent.all_tenants.values_list("data", flat=True)) + list(
            PlatformAuditEvent.objects.values_list("data", flat=True)
        )
    assert rows
    assert all(STRONG not in str(data) for data in rows)


def test_register_hashes_the_password_for_known_and_unknown_alike(api, open_portal, member, settings):
    """Structural, not timing: every hash is counted, and a known address costs what a new one costs."""
    settings.PASSWORD_HASHERS = [COUNTING_HASHER]
    known = member()
    counts = []
    for email in (known.email, "brand.new@example.test"):
        CountingHasher.calls = 0
        assert api.post(REGISTER, {"email": email, "password": STRONG, "portal": open_portal.slug}).status_code == 202
        counts.append(CountingHasher.calls)
    assert counts == [1, 1]


def test_expired_sign_up_passwords_are_purged(api, open_portal):
    from datetime import timedelta

    from django.utils import timezone

    from apps.identity.models import PendingSignup
    from apps.identity.services.accounts import pending_signup_purge

    api.post(REGISTER, {"email": "old@example.test", "password": STRONG, "portal": open_portal.slug})
    api.post(REGISTER, {"email": "new@example.test", "password": STRONG, "portal": open_portal.slug})
    PendingSignup.objects.filter(email="old@example.test").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert pending_signup_purge() == 1
    assert list(PendingSignup.objects.values_list("email", flat=True)) == ["new@example.test"]
