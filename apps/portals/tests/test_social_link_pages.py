"""Linking and unlinking social sign-in methods from the security page, through the fake OIDC provider."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.identity.models import AuthSession
from apps.identity.tests.factories import PortalFactory, UserFactory
from apps.portals.tests.social_support import (
    PROVIDER_NAME,
    configure,
    link,
    post_from,
    round_trip,
    serve,
    social_sign_in,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


@pytest.fixture(scope="module")
def oidc_server():
    yield from serve()


@pytest.fixture
def oidc(oidc_server, settings):
    return configure(oidc_server, settings)


@pytest.fixture
def signed_in(web, portal, member, portal_login):
    """`signed_in(role)` → a member signed in with their password (verified address), in `web`."""

    def make(role: str = "member", user=None, client: Client | None = None):
        user = user or member(role=role)
        user.email_verified = True
        user.save(update_fields=["email_verified"])
        assert portal_login(user, portal, client=client).status_code == 302
        return user

    return make


def security(portal) -> str:
    return f"/portal/{portal.slug}/security/"


def link_from_security_page(client: Client, portal, provider: str = "oidc"):
    """The "Link …" button, the provider, the callback: the response of the page the callback leads to."""
    started = post_from(client, security(portal), f"{security(portal)}social/{provider}/link/")
    back = round_trip(client, started)
    assert back["Location"] == f"{security(portal)}social/complete/"
    return client.get(back["Location"])


def unlink(client: Client, portal, link_id) -> object:
    return post_from(client, security(portal), f"{security(portal)}social/{link_id}/unlink/")


# --------------------------------------------------------------------------- linking


def test_a_member_links_then_signs_out_and_signs_in_with_the_provider(web, portal, signed_in, oidc):
    user = signed_in()
    page = web.get(security(portal))
    assert f"Link {PROVIDER_NAME}".encode() in page.content
    done = link_from_security_page(web, portal)
    assert done["Location"] == security(portal)
    page = web.get(done["Location"])
    assert f"{PROVIDER_NAME} is linked".encode() in page.content
    assert b'data-testid="social-link"' in page.content
    assert b"someone@example.test" in page.content  # who at the provider
    assert f"Link {PROVIDER_NAME}".encode() not in page.content
    assert SocialAccount.objects.get().user == user
    post_from(web, security(portal), f"/portal/{portal.slug}/logout/")
    assert social_sign_in(web, portal, oidc)["Location"] == f"/portal/{portal.slug}/dashboard/"
    assert AuthSession.objects.filter(user=user, amr=["social"], revoked_at=None).exists()


def test_an_identity_linked_to_another_account_is_refused(web, portal, signed_in, member, oidc):
    owner = member("member")
    link(owner)  # the provider's sub-1 is theirs
    signed_in()
    page = web.get(link_from_security_page(web, portal)["Location"])
    assert b"already linked to another account" in page.content
    assert SocialAccount.objects.get().user == owner


def test_linking_needs_a_post_with_csrf_and_a_signed_in_member(web, portal, signed_in, oidc):
    action = f"{security(portal)}social/oidc/link/"
    assert Client().post(action)["Location"].startswith(f"/portal/{portal.slug}/login/")
    signed_in()
    assert web.get(action).status_code == 405
    assert web.post(action).status_code == 403  # no CSRF token
    assert post_from(web, security(portal), f"{security(portal)}social/google/link/").status_code == 404


def test_a_session_at_another_portal_links_nothing_here(web, portal, tenant, signed_in, oidc):
    signed_in()
    other = PortalFactory(tenant=tenant, slug="acme-other", name="Other")
    response = post_from(web, security(portal), f"/portal/{other.slug}/security/social/oidc/link/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{other.slug}/login/")


def test_a_link_started_by_one_member_is_not_finished_for_another(web, portal, signed_in, member, oidc):
    signed_in()
    back = round_trip(web, post_from(web, security(portal), f"{security(portal)}social/oidc/link/"))
    signed_in(user=member("member"))  # the same browser, now someone else
    page = web.get(web.get(back["Location"])["Location"])
    assert b"did not complete" in page.content
    assert not SocialAccount.objects.exists()


def test_the_link_completion_page_needs_a_sign_in(portal, oidc):
    response = Client().get(f"{security(portal)}social/complete/")
    assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


# --------------------------------------------------------------------------- unlinking


def test_unlinking_removes_the_link(web, portal, signed_in, oidc):
    user = signed_in()
    mine = link(user)
    response = unlink(web, portal, mine.id)
    assert response["Location"] == security(portal)
    assert f"{PROVIDER_NAME} is unlinked".encode() in web.get(security(portal)).content
    assert not SocialAccount.objects.exists()


def test_the_last_way_in_is_never_unlinked(web, portal, signed_in, oidc):
    user = signed_in()
    mine = link(user)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    page = web.get(unlink(web, portal, mine.id)["Location"])
    assert b"only way to sign in" in page.content
    assert SocialAccount.objects.filter(id=mine.id).exists()


@pytest.mark.parametrize("raw", ["abc", "-1", "99999999999999999999999", "1.5"])
def test_unlinking_an_odd_id_is_the_404_page(web, portal, signed_in, oidc, raw):
    signed_in()
    assert unlink(web, portal, raw).status_code == 404


def test_unlinking_someone_elses_link_is_the_404_page(web, portal, signed_in, other_tenant, oidc):
    signed_in()
    theirs = link(UserFactory(), sub="theirs")
    assert unlink(web, portal, theirs.id).status_code == 404
    assert SocialAccount.objects.filter(id=theirs.id).exists()


def test_unlinking_needs_a_post_with_csrf_and_a_signed_in_member(web, portal, signed_in, oidc):
    user = UserFactory()
    mine = link(user)
    action = f"{security(portal)}social/{mine.id}/unlink/"
    assert Client().post(action)["Location"].startswith(f"/portal/{portal.slug}/login/")
    signed_in()
    assert web.post(action).status_code == 403  # no CSRF token
    assert web.get(action)["Location"] == security(portal)
    assert SocialAccount.objects.filter(id=mine.id).exists()


# --------------------------------------------------------------------------- the security page


def test_the_section_is_absent_without_providers_or_links(web, portal, signed_in, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    signed_in()
    assert b"Linked sign-in methods" not in web.get(security(portal)).content


def test_the_security_page_makes_as_many_queries_with_one_link_as_with_twenty(web, portal, signed_in, oidc):
    user = signed_in()
    link(user)
    web.get(security(portal))  # warm
    with CaptureQueriesContext(connection) as one:
        assert web.get(security(portal)).status_code == 200
    for n in range(19):
        SocialAccount.objects.create(user=user, provider=f"other-{n}", uid=str(n), extra_data={"login": f"u{n}"})
    with CaptureQueriesContext(connection) as twenty:
        page = web.get(security(portal))
    assert page.content.count(b'data-testid="social-link"') == 20
    assert len(twenty) == len(one), [q["sql"] for q in twenty.captured_queries]
