"""Members pages: who sees what, the services' owner rules, scoping, CSRF, odd input, paging.

The invitations pages are in test_members_invitations_pages; shared helpers in `members_support`, the
`signed_in` fixture in conftest.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.identity.models import Invitation, Membership, Role
from apps.identity.tests.factories import UserFactory, make_membership
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.members_support import (
    invitations_url,
    invite,
    members_url,
    membership_of,
    remove_url,
    revoke_url,
    role_of,
    role_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def guest_role(tenant, portal):
    """A custom role with no permission at all, admitted to the portal."""
    with tenant_context(tenant):
        role = Role.objects.create(tenant=tenant, code="guest", name="Guest", permissions=[])
    portal.admitted_roles = [*portal.admitted_roles, "guest"]
    portal.save(update_fields=["admitted_roles"])
    return role


def sign_in_guest(web, tenant, portal, guest_role, portal_login):
    user = UserFactory()
    with tenant_context(tenant):
        Membership.objects.create(user=user, tenant=tenant, role=guest_role)
    assert portal_login(user, portal).status_code == 302
    return user


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


# --------------------------------------------------------------------------- who may see what


def test_a_member_sees_the_members_but_no_actions(web, portal, tenant, signed_in):
    me = signed_in("member")
    other = UserFactory(name="Other Person")
    make_membership(user=other, tenant=tenant, role="admin")
    page = web.get(members_url(portal))
    assert page.status_code == 200
    assert me.email.encode() in page.content
    assert other.email.encode() in page.content
    assert b"Other Person" in page.content
    assert b"Change role" not in page.content
    assert b"/remove/" not in page.content
    assert b"Invite someone" not in page.content


def test_an_admin_sees_change_role_and_remove_with_labelled_role_fields(web, portal, tenant, signed_in):
    signed_in("admin")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    page = web.get(members_url(portal))
    assert page.status_code == 200
    assert b"Change role" in page.content
    target = membership_of(other, tenant)
    assert remove_url(portal, target.id).encode() in page.content
    assert f'<label for="id_role_{target.id}">Role</label>'.encode() in page.content
    assert b"Invite someone" in page.content


def test_without_view_member_the_members_page_is_403_and_not_in_the_navigation(
    web, tenant, portal, guest_role, portal_login, rbac_seeded
):
    sign_in_guest(web, tenant, portal, guest_role, portal_login)
    page = web.get(members_url(portal))
    assert page.status_code == 403
    assert b"Your role does not allow this page." in page.content
    assert web.get(invitations_url(portal)).status_code == 403
    nav = nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)
    assert "Members" not in nav
    assert "Invitations" not in nav
    assert "Security" in nav
    assert "Profile" in nav


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("member", ["Members", "Security", "Profile"], ["Invitations"]),
        ("admin", ["Members", "Invitations", "Security", "Profile"], []),
        ("owner", ["Members", "Invitations", "Security", "Profile"], []),
    ],
)
def test_the_navigation_links_only_what_the_role_may_open(web, portal, signed_in, role, shown, hidden):
    signed_in(role)
    nav = nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)
    for label in shown:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav


def test_a_member_cannot_use_the_manage_or_invite_pages(web, portal, tenant, signed_in):
    signed_in("member")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    assert csrf_post(web, role_url(portal, target.id), {"role": "admin"}).status_code == 403
    assert web.get(remove_url(portal, target.id)).status_code == 403
    assert csrf_post(web, remove_url(portal, target.id)).status_code == 403
    assert web.get(invitations_url(portal)).status_code == 403
    assert csrf_post(web, invitations_url(portal), {"email": "x@example.test", "role": "member"}).status_code == 403
    assert role_of(other, tenant) == "member"
    with tenant_context(tenant):
        assert not Invitation.objects.filter(email="x@example.test").exists()


def test_anonymous_visitors_go_to_the_login_page(web, portal, db):
    for path in (members_url(portal), invitations_url(portal)):
        response = web.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


# --------------------------------------------------------------------------- change role


def test_an_admin_changes_a_members_role(web, portal, tenant, signed_in):
    signed_in("admin")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    response = csrf_post(web, role_url(portal, target.id), {"role": "admin"})
    assert response.status_code == 302, response.content
    assert response["Location"] == members_url(portal)
    assert role_of(other, tenant) == "admin"
    page = web.get(response["Location"])
    assert b"Role changed" in page.content


def test_an_admin_cannot_make_someone_an_owner(web, portal, tenant, signed_in):
    signed_in("admin")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    response = csrf_post(web, role_url(portal, target.id), {"role": "owner"})
    assert response.status_code == 403
    assert b"Only an owner can make someone an owner." in response.content
    assert role_of(other, tenant) == "member"


def test_an_admin_cannot_change_an_owners_role(web, portal, tenant, signed_in):
    signed_in("admin")
    owner = UserFactory()
    make_membership(user=owner, tenant=tenant, role="owner")
    response = csrf_post(web, role_url(portal, membership_of(owner, tenant).id), {"role": "member"})
    assert response.status_code == 403
    assert b"Only an owner can change the role of an owner." in response.content
    assert role_of(owner, tenant) == "owner"


def test_an_owner_promotes_to_owner_and_the_last_owner_cannot_step_down(web, portal, tenant, signed_in):
    me = signed_in("owner")
    mine = membership_of(me, tenant)
    response = csrf_post(web, role_url(portal, mine.id), {"role": "admin"})
    assert response.status_code == 409
    assert b"The last owner cannot be demoted" in response.content
    assert role_of(me, tenant) == "owner"

    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    response = csrf_post(web, role_url(portal, membership_of(other, tenant).id), {"role": "owner"})
    assert response.status_code == 302
    assert role_of(other, tenant) == "owner"


def test_a_changed_members_browser_session_ends(web, portal, tenant, signed_in, portal_login):
    signed_in("admin")
    victim_browser = Client(enforce_csrf_checks=True)
    victim = signed_in("member", client=victim_browser)
    assert victim_browser.get(f"/portal/{portal.slug}/dashboard/").status_code == 200
    assert csrf_post(web, role_url(portal, membership_of(victim, tenant).id), {"role": "admin"}).status_code == 302
    response = victim_browser.get(f"/portal/{portal.slug}/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


@pytest.mark.parametrize("role", ["", "nonsense", "x" * 5000, "owner\x00", "<script>"])
def test_an_odd_role_is_a_form_error(web, portal, tenant, signed_in, role):
    signed_in("admin")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    response = csrf_post(web, role_url(portal, target.id), {"role": role})
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert role_of(other, tenant) == "member"


# --------------------------------------------------------------------------- remove


def test_remove_asks_first_then_removes(web, portal, tenant, signed_in):
    signed_in("admin")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    confirm = web.get(remove_url(portal, target.id))
    assert confirm.status_code == 200
    assert b'method="post"' in confirm.content
    assert other.email.encode() in confirm.content
    with tenant_context(tenant):
        assert Membership.objects.filter(id=target.id).exists()  # asking removed nothing
    response = csrf_post(web, remove_url(portal, target.id))
    assert response.status_code == 302
    with tenant_context(tenant):
        assert not Membership.objects.filter(id=target.id).exists()
    assert b"Member removed" in web.get(response["Location"]).content


def test_an_admin_cannot_remove_an_owner(web, portal, tenant, signed_in):
    signed_in("admin")
    owner = UserFactory()
    make_membership(user=owner, tenant=tenant, role="owner")
    target = membership_of(owner, tenant)
    response = csrf_post(web, remove_url(portal, target.id))
    assert response.status_code == 403
    assert b"Only an owner can remove an owner." in response.content
    with tenant_context(tenant):
        assert Membership.objects.filter(id=target.id).exists()


def test_the_last_owner_cannot_be_removed(web, portal, tenant, signed_in):
    me = signed_in("owner")
    target = membership_of(me, tenant)
    response = csrf_post(web, remove_url(portal, target.id))
    assert response.status_code == 409
    with tenant_context(tenant):
        assert Membership.objects.filter(id=target.id).exists()


# --------------------------------------------------------------------------- scoping, CSRF, odd ids


def test_another_tenants_membership_is_404_and_untouched(web, portal, tenant, other_tenant, signed_in):
    signed_in("owner")
    stranger = UserFactory()
    make_membership(user=stranger, tenant=other_tenant, role="member")
    theirs = membership_of(stranger, other_tenant)
    assert csrf_post(web, role_url(portal, theirs.id), {"role": "admin"}).status_code == 404
    assert csrf_post(web, role_url(portal, theirs.id), {"role": "nonsense"}).status_code == 404
    assert web.get(remove_url(portal, theirs.id)).status_code == 404
    assert csrf_post(web, remove_url(portal, theirs.id)).status_code == 404
    assert role_of(stranger, other_tenant) == "member"


@pytest.mark.parametrize("bad", ["not-a-uuid", "0", "%00", str(uuid.uuid4()), "1" * 300])
def test_odd_or_unknown_ids_are_404(web, portal, signed_in, bad):
    signed_in("owner")
    assert csrf_post(web, role_url(portal, bad), {"role": "admin"}).status_code == 404
    assert web.get(remove_url(portal, bad)).status_code == 404
    assert csrf_post(web, remove_url(portal, bad)).status_code == 404
    assert web.get(revoke_url(portal, bad)).status_code == 404
    assert csrf_post(web, revoke_url(portal, bad)).status_code == 404


def test_posts_without_the_csrf_token_are_refused(web, portal, tenant, signed_in):
    signed_in("owner")
    other = UserFactory()
    make_membership(user=other, tenant=tenant, role="member")
    target = membership_of(other, tenant)
    pending = invite(tenant, "pending@example.test")
    web.get(members_url(portal))  # the CSRF cookie is there; only the token is missing
    assert web.post(role_url(portal, target.id), {"role": "admin"}).status_code == 403
    assert web.post(remove_url(portal, target.id)).status_code == 403
    assert web.post(invitations_url(portal), {"email": "new@example.test", "role": "member"}).status_code == 403
    assert web.post(revoke_url(portal, pending.id)).status_code == 403
    assert role_of(other, tenant) == "member"
    with tenant_context(tenant):
        assert Membership.objects.filter(id=target.id).exists()
        assert Invitation.objects.get(id=pending.id).status == Invitation.Status.PENDING
        assert not Invitation.objects.filter(email="new@example.test").exists()


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999", "2", "1e3"])
def test_odd_page_numbers_are_never_an_error(web, portal, signed_in, page):
    signed_in("admin")
    assert web.get(members_url(portal), {"page": page}).status_code == 200
    assert web.get(invitations_url(portal), {"page": page}).status_code == 200


# --------------------------------------------------------------------------- paging and the query budget


def test_members_come_a_page_at_a_time(web, portal, tenant, signed_in):
    signed_in("admin")
    for _ in range(25):
        make_membership(user=UserFactory(), tenant=tenant, role="member")
    first = web.get(members_url(portal))
    assert first.content.count(b'data-testid="member-row"') == 20
    assert b'rel="next"' in first.content
    second = web.get(members_url(portal), {"page": 2})
    assert second.content.count(b'data-testid="member-row"') == 6
    assert b'rel="prev"' in second.content
    assert b'rel="next"' not in second.content


def test_the_members_page_makes_the_same_bounded_number_of_queries_at_1_and_30_members(
    web, portal, tenant, signed_in, django_assert_max_num_queries
):
    signed_in("admin")
    url = members_url(portal)
    web.get(url)  # warm: role map and the like
    with CaptureQueriesContext(connection) as one:
        assert web.get(url).status_code == 200
    for _ in range(29):
        make_membership(user=UserFactory(), tenant=tenant, role="member")
    web.get(url)
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as thirty:
        page = web.get(url)
    assert page.status_code == 200
    assert page.content.count(b'data-testid="member-row"') == 20
    assert len(thirty) == len(one), [q["sql"] for q in thirty.captured_queries]
