"""Social sign-in's rules, through the service every social sign-in ends in (`services.social`).

A linked identity signs in to its account only, through the same admission and second factor as a
password; an unlinked one never takes over an account whose e-mail it shares; sign-up follows the
portal's policy and the pre-hijack rules; linking and unlinking keep an account reachable.
"""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.http import HttpResponse

from apps.common.exceptions import Conflict, NotFound, PermissionDenied, TooManyRequests
from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.exceptions import EmailUnverified
from apps.identity.models import AuditEvent, AuthSession, Membership, Portal, User
from apps.identity.selectors.portals import portal_login_methods
from apps.identity.services import accounts, lockout, mfa, signin, social
from apps.identity.services.browser_sessions import browser_session_start
from apps.identity.services.proof import unproved_account_reset
from apps.identity.services.sessions import ClientInfo
from apps.identity.social.apps import middleware_check
from apps.identity.social.middleware import AccountMiddleware
from apps.identity.social_providers import portal_providers
from apps.identity.tests.factories import UserFactory
from apps.identity.tests.mfa_support import enable_mfa, totp_code
from config.settings.social import social_providers

pytestmark = pytest.mark.usefixtures("rbac_seeded", "providers")

CLIENT = ClientInfo(ip="203.0.113.7", user_agent="test")


@pytest.fixture
def providers(settings):
    settings.SOCIALACCOUNT_PROVIDERS = social_providers(
        google=("google-id", "s"), oidc=("Acme ID", "https://id.example.test", "oidc-id", "s")
    )


@pytest.fixture(autouse=True)
def _mail_jobs_run_inline(embedded_queues):  # noqa: F811 - the imported fixture
    """Mail jobs run right after commit, as in the embedded setup."""


def identity(sub: str = "sub-1", email: str = "", verified: bool = True, provider: str = "oidc"):
    return social.SocialIdentity(provider=provider, uid=sub, email=email, email_verified=verified, name="Social Name")


def linked(user: User, sub: str = "sub-1", provider: str = "oidc") -> SocialAccount:
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    return SocialAccount.objects.create(user=user, provider=provider, uid=sub, extra_data={})


def sign_in(ident, portal):
    return social.social_sign_in(identity=ident, portal_slug=portal.slug, client=CLIENT)


def denied(tenant, reason: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return [e for e in AuditEvent.objects.filter(action="auth.login_denied") if e.data.get("reason") == reason]


# --------------------------------------------------------------------------- a linked identity


def test_a_linked_identity_signs_in_to_its_account_with_amr_social(portal, member, tenant):
    user = member("member")
    linked(user)
    result = sign_in(identity(email="someone-else@example.test"), portal)
    assert isinstance(result, signin.Admitted)
    assert result.user == user
    assert result.amr == ("social",)
    started = browser_session_start(
        user=result.user, membership=result.membership, portal=portal, amr=list(result.amr), client=CLIENT
    )
    assert started.session.amr == ["social"]
    with tenant_context(tenant):
        login = AuditEvent.objects.get(action="auth.login")
    assert login.data["amr"] == ["social"]


def test_a_user_with_mfa_gets_the_code_step_and_then_amr_social_otp(portal, member):
    user = member("member")
    linked(user)
    enable_mfa(user)
    challenge = sign_in(identity(), portal)
    assert isinstance(challenge, mfa.MfaChallenge)
    assert not challenge.setup_required
    started = mfa.mfa_verify(
        mfa_token=challenge.mfa_token, code=totp_code(user, steps_ahead=1), client=CLIENT, start=browser_session_start
    )
    assert started.session.amr == ["social", "otp"]


def test_a_portal_requiring_mfa_sends_a_user_without_it_to_enrolment(portal, member):
    portal.mfa_required = True
    portal.save()
    linked(member("member"))
    challenge = sign_in(identity(), portal)
    assert isinstance(challenge, mfa.MfaChallenge)
    assert challenge.setup_required


def test_a_linked_non_member_is_refused_and_audited(portal, tenant):
    linked(UserFactory())
    with pytest.raises(PermissionDenied):
        sign_in(identity(), portal)
    assert denied(tenant, "You are not a member of this portal's organisation.")
    assert not AuthSession.objects.exists()


def test_a_role_the_portal_does_not_admit_is_refused(portal, member):
    portal.admitted_roles = ["owner", "admin"]
    portal.save()
    linked(member("member"))
    with pytest.raises(PermissionDenied, match="role"):
        sign_in(identity(), portal)


def test_an_inactive_or_unproved_linked_account_cannot_sign_in(portal, member, tenant):
    user = member("member")
    linked(user)
    User.objects.filter(id=user.id).update(email_verified=False)
    with pytest.raises(EmailUnverified):
        sign_in(identity(), portal)
    User.objects.filter(id=user.id).update(email_verified=True, is_active=False)
    with pytest.raises(PermissionDenied, match="no longer"):
        sign_in(identity(), portal)
    assert denied(tenant, "email_unverified")
    assert denied(tenant, "inactive")


def test_the_same_uid_at_another_provider_is_another_identity(portal, member):
    linked(member("member"), provider="google")
    with pytest.raises(social.SocialSignupClosed):
        sign_in(identity(provider="oidc"), portal)


def test_a_locked_client_is_refused_before_the_identity_counts(portal, member, settings):
    settings.ATRIUM_LOCKOUT = {"ip_threshold": 2}
    linked(member("member"))
    for n in range(2):
        lockout.login_failed(email=f"x{n}@example.test", ip=CLIENT.ip, user=None)
    with pytest.raises(TooManyRequests):
        sign_in(identity(), portal)


# --------------------------------------------------------------------------- no takeover


@pytest.mark.parametrize(
    "variant",
    [
        "owner@example.test",
        "OWNER@EXAMPLE.TEST",
        "Owner@Example.Test",
        " owner@example.test ",
        "\uff4fwner@example.test",  # fullwidth o (NFKC)
        "\u24deWNER@example.test",  # circled o (NFKC)
    ],
)
def test_an_unlinked_identity_with_an_accounts_email_takes_nothing_over(portal, member, tenant, variant):
    owner = member("owner", user=UserFactory(email="owner@example.test", email_verified=True))
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    with pytest.raises(social.SocialNotLinked, match="Sign in with its password"):
        sign_in(identity(email=variant, verified=True), portal)
    assert not SocialAccount.objects.exists()
    assert User.objects.count() == 1
    assert not AuthSession.objects.exists()
    (event,) = denied(tenant, "social_not_linked")
    assert event.target_id == str(owner.id)
    assert event.data["provider"] == "oidc"


@pytest.mark.parametrize(
    ("existing", "asserted"),
    [
        ("admin@example.test", "adm\u0131n@example.test"),  # dotless i
        ("admin@example.test", "ADM\u0130N@example.test"),  # capital I with a dot
        ("kate@example.test", "\u212aate@example.test"),  # the Kelvin sign
        ("rene@example.test", "rene\u0301@example.test"),  # a combining accent
    ],
)
def test_an_address_that_only_looks_like_an_accounts_makes_no_second_account(portal, existing, asserted):
    UserFactory(email=existing)
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    with pytest.raises(social.SocialNotLinked):
        sign_in(identity(email=asserted, verified=True), portal)
    assert User.objects.count() == 1


# --------------------------------------------------------------------------- sign-up


@pytest.mark.parametrize("policy", [Portal.SignupPolicy.CLOSED, Portal.SignupPolicy.INVITE])
def test_sign_up_where_the_portal_takes_none_makes_no_account(portal, tenant, policy):
    portal.signup_policy = policy
    portal.save()
    with pytest.raises(social.SocialSignupClosed, match="invitation"):
        sign_in(identity(email="new@example.test"), portal)
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert denied(tenant, "signup_closed")


def test_sign_up_with_a_verified_address_makes_a_linked_member_and_signs_in(portal, tenant):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    result = sign_in(identity(email="New.Person@Example.TEST", verified=True), portal)
    assert isinstance(result, signin.Admitted)
    user = User.objects.get()
    assert user.email == "New.Person@example.test"
    assert user.email_verified
    assert user.name == "Social Name"
    assert not user.has_usable_password()
    assert SocialAccount.objects.get().user == user
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role.code == "member"
        register = AuditEvent.objects.get(action="auth.register")
    assert register.data == {"portal": portal.slug, "role": "member", "method": "social"}
    assert not mail.outbox  # the provider proved the address


def test_sign_up_with_an_unverified_address_waits_for_the_mailed_link(portal, committed):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    with committed():
        result = sign_in(identity(email="new@example.test", verified=False), portal)
    assert isinstance(result, social.SignedUp)
    user = User.objects.get()
    assert not user.email_verified
    assert [m.to for m in mail.outbox] == [["new@example.test"]]
    # The identity is linked, but it signs in to nothing until the address is proved ...
    with pytest.raises(EmailUnverified):
        sign_in(identity(email="new@example.test", verified=False), portal)
    key = mail.outbox[0].body.split("key=")[1].split()[0]
    accounts.email_verify(key=key)
    # ... and then it does.
    assert isinstance(sign_in(identity(email="new@example.test", verified=False), portal), signin.Admitted)


def test_proof_of_the_address_by_someone_else_removes_an_unproved_accounts_links(portal, committed):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    with committed():
        sign_in(identity(email="victim@example.test", verified=False), portal)
    user = User.objects.get()
    assert unproved_account_reset(user=user, via="password_reset")
    assert not SocialAccount.objects.filter(user=user).exists()


def test_sign_up_without_an_email_is_refused(portal):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    with pytest.raises(social.SocialNoEmail):
        sign_in(identity(email=""), portal)
    with pytest.raises(social.SocialNoEmail):
        sign_in(identity(email="x" * 250 + "@example.test"), portal)
    assert not User.objects.exists()


# --------------------------------------------------------------------------- linking and unlinking


def test_linking_is_audited_idempotent_and_one_per_provider(member, tenant):
    user = member("member")
    assert social.social_link(user=user, identity=identity(), ip=None, tenant=tenant)
    assert not social.social_link(user=user, identity=identity(), ip=None, tenant=tenant)
    with pytest.raises(Conflict, match="unlink it first"):
        social.social_link(user=user, identity=identity(sub="sub-2"), ip=None, tenant=tenant)
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="auth.social_linked").count() == 1


def test_an_identity_linked_to_another_account_is_refused(member, tenant):
    first, second = member("member"), member("member")
    social.social_link(user=first, identity=identity(), ip=None, tenant=tenant)
    with pytest.raises(Conflict, match="another account"):
        social.social_link(user=second, identity=identity(), ip=None, tenant=tenant)
    assert SocialAccount.objects.get().user == first
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="auth.social_link_denied").exists()


def test_unlinking_never_removes_the_last_way_in(member, tenant):
    user = member("member")
    link = linked(user)
    user.set_unusable_password()
    user.save()
    with pytest.raises(Conflict, match="only way to sign in"):
        social.social_unlink(user=user, link_id=link.id, ip=None, tenant=tenant)
    second = linked(user, sub="other", provider="google")
    assert social.social_unlink(user=user, link_id=link.id, ip=None, tenant=tenant) == "oidc"
    with pytest.raises(Conflict):
        social.social_unlink(user=user, link_id=second.id, ip=None, tenant=tenant)
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="auth.social_unlinked").count() == 1


def test_a_user_with_a_password_may_unlink_their_last_link_but_not_someone_elses(member, tenant):
    user, other = member("member"), member("member")
    mine, theirs = linked(user), linked(other, sub="theirs")
    with pytest.raises(NotFound):
        social.social_unlink(user=user, link_id=theirs.id, ip=None, tenant=tenant)
    social.social_unlink(user=user, link_id=mine.id, ip=None, tenant=tenant)
    assert list(SocialAccount.objects.all()) == [theirs]


# --------------------------------------------------------------------------- which providers a portal offers


def test_a_portal_offers_the_configured_providers_it_lists(portal, settings):
    assert portal_login_methods(portal=portal) == ["password", "google", "oidc"]
    portal.features = {"social_providers": ["oidc", "github"]}  # github is not configured: never offered
    assert portal_login_methods(portal=portal) == ["password", "oidc"]
    assert [p.label for p in portal_providers(portal=portal)] == ["Acme ID"]
    portal.features = {"social_providers": []}
    assert portal_login_methods(portal=portal) == ["password"]
    settings.SOCIALACCOUNT_PROVIDERS = {}
    portal.features = {"social_providers": ["google"]}
    assert portal_login_methods(portal=portal) == ["password"]


# --------------------------------------------------------------------------- allauth's middleware


def test_allauths_middleware_runs_for_pages_and_never_for_the_api(rf):
    seen: dict[str, bool] = {}

    def view(request):
        seen[request.path] = hasattr(request, "allauth")
        return HttpResponse()

    middleware = AccountMiddleware(view)
    paths = ("/api/v1/identity/auth/me/", "/.well-known/jwks.json", "/portal/acme/login/", "/social/oidc/callback/")
    for path in paths:
        middleware(rf.get(path))
    assert seen == {
        "/api/v1/identity/auth/me/": False,
        "/.well-known/jwks.json": False,
        "/portal/acme/login/": True,
        "/social/oidc/callback/": True,
    }


def test_the_start_up_check_asks_for_the_browser_only_middleware(settings):
    assert middleware_check(None) == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "social" not in m]
    assert [e.id for e in middleware_check(None)] == ["identity.E101"]
