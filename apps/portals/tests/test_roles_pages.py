"""Roles pages: the list, create, edit and delete through identity's role services, as the API.

Who may open what (view_role / manage_role, the plan's "custom_roles"), the services' refusals on the
form, scoping by tenant, CSRF, odd input, and the list's cursor paging and query budget.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_change
from apps.common.tenancy import tenant_context
from apps.identity.models import Invitation, Membership, Role
from apps.identity.tests.factories import UserFactory
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db


def roles_url(portal, suffix: str = "") -> str:
    return f"/portal/{portal.slug}/roles/{suffix}"


def custom_role(tenant, code: str, *, name: str = "", permissions: list[str] | None = None) -> Role:
    with tenant_context(tenant):
        return Role.objects.create(
            tenant=tenant, code=code, name=name or code.title(), permissions=permissions or ["identity.view_member"]
        )


def role_row(tenant, code: str) -> Role | None:
    with tenant_context(tenant):
        return Role.objects.filter(tenant=tenant, code=code).first()


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


@pytest.fixture
def on_plan(tenant, rbac_seeded):
    """`on_plan("pro")`: the tenant moved to that plan through billing's service, as an owner would."""
    plan_seed()

    def move(plan: str):
        with tenant_context(tenant):
            subscription_change(tenant=tenant, actor=UserFactory(), plan=plan)
        return tenant

    return move


@pytest.fixture
def pro(on_plan):
    return on_plan("pro")


# --------------------------------------------------------------------------- who may open what


def test_a_member_sees_system_and_custom_roles_with_their_permissions_but_no_actions(web, portal, pro, signed_in):
    custom_role(pro, "support", name="Support desk", permissions=["identity.view_member", "identity.invite_member"])
    signed_in("member")
    page = web.get(roles_url(portal))
    assert page.status_code == 200
    text = page.content.decode()
    order = [text.index(f'data-role="{code}"') for code in ("admin", "member", "owner", "support")]
    assert order == sorted(order), "system roles first, then custom roles, each by code"
    assert "Support desk" in text
    assert "Invite people to the tenant and revoke invitations" in text  # the permission's description
    assert "Create a role" not in text
    assert "/roles/support/" not in text
    assert ">Roles</a>" in nav_links(page.content)


def test_an_admin_sees_create_edit_and_delete_for_custom_roles_only(web, portal, pro, signed_in):
    custom_role(pro, "support")
    signed_in("admin")
    text = web.get(roles_url(portal)).content.decode()
    assert "Create a role" in text
    assert roles_url(portal, "support/") in text
    assert roles_url(portal, "support/delete/") in text
    assert roles_url(portal, "owner/") not in text


def test_without_custom_roles_in_the_plan_the_pages_are_403_and_not_in_the_navigation(
    web, portal, tenant, on_plan, signed_in
):
    on_plan("free")
    signed_in("owner")
    for path in (roles_url(portal), roles_url(portal, "new/"), roles_url(portal, "member/")):
        response = web.get(path)
        assert response.status_code == 403, path
        assert b"not part of this portal or of your organisation" in response.content
    assert ">Roles</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_without_view_role_the_roles_page_is_403_and_not_in_the_navigation(web, portal, pro, portal_login):
    guest = custom_role(pro, "guest", permissions=["identity.view_member"])
    portal.admitted_roles = [*portal.admitted_roles, "guest"]
    portal.save(update_fields=["admitted_roles"])
    user = UserFactory()
    with tenant_context(pro):
        Membership.objects.create(user=user, tenant=pro, role=guest)
    assert portal_login(user, portal).status_code == 302
    response = web.get(roles_url(portal))
    assert response.status_code == 403
    assert b"Your role does not allow this page." in response.content
    assert ">Roles</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_a_member_cannot_create_edit_or_delete(web, portal, pro, signed_in):
    custom_role(pro, "support")
    signed_in("member")
    assert web.get(roles_url(portal, "new/")).status_code == 403
    assert csrf_post(web, roles_url(portal, "new/"), {"code": "x", "name": "X"}).status_code == 403
    assert web.get(roles_url(portal, "support/")).status_code == 403
    assert csrf_post(web, roles_url(portal, "support/"), {"name": "Renamed"}).status_code == 403
    assert web.get(roles_url(portal, "support/delete/")).status_code == 403
    assert csrf_post(web, roles_url(portal, "support/delete/")).status_code == 403
    assert role_row(pro, "x") is None
    assert getattr(role_row(pro, "support"), "name", None) == "Support"


def test_anonymous_visitors_go_to_the_login_page(web, portal, pro):
    for suffix in ("", "new/", "member/", "member/delete/"):
        response = web.get(roles_url(portal, suffix))
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


# --------------------------------------------------------------------------- create


def test_an_admin_creates_a_role_with_permissions(web, portal, pro, signed_in):
    signed_in("admin")
    form = web.get(roles_url(portal, "new/"))
    assert form.status_code == 200
    assert b'<label for="id_code">Code</label>' in form.content
    assert b'value="identity.invite_member"' in form.content
    data = {
        "code": "support",
        "name": "Support desk",
        "permissions": ["identity.view_member", "identity.invite_member"],
    }
    response = csrf_post(web, roles_url(portal, "new/"), data)
    assert response.status_code == 302, response.content
    assert response["Location"] == roles_url(portal)
    role = role_row(pro, "support")
    assert role is not None
    assert (role.name, sorted(role.permissions)) == ("Support desk", ["identity.invite_member", "identity.view_member"])
    assert b"Role created: Support desk (support)." in web.get(response["Location"]).content


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("admin", b"The code &#x27;admin&#x27; is reserved for a system role. Choose another code."),
        ("support", b"This tenant already has a role &#x27;support&#x27;. Choose another code"),
    ],
)
def test_a_taken_or_reserved_code_is_409_beside_the_code_with_what_to_do(web, portal, pro, signed_in, code, message):
    custom_role(pro, "support", name="Support")
    signed_in("admin")
    response = csrf_post(web, roles_url(portal, "new/"), {"code": code, "name": "Other"})
    assert response.status_code == 409
    assert b'id="id_code_error"' in response.content
    assert message in response.content
    with tenant_context(pro):
        assert not Role.objects.filter(tenant=pro, name="Other").exists()


@pytest.mark.parametrize("code", ["", "Support", "has space", "-lead", "x" * 50 + "y"])
def test_a_bad_code_is_400_beside_the_code(web, portal, pro, signed_in, code):
    signed_in("admin")
    response = csrf_post(web, roles_url(portal, "new/"), {"code": code, "name": "Other"})
    assert response.status_code == 400
    assert b'id="id_code_error"' in response.content
    with tenant_context(pro):
        assert not Role.objects.filter(tenant=pro).exists()


def test_granting_a_permission_you_lack_is_403_beside_the_permissions(web, portal, pro, signed_in):
    signed_in("admin")  # admins hold no billing.manage_subscription (owners do)
    form = web.get(roles_url(portal, "new/")).content.decode()
    held_note = "You do not hold this permission, so you cannot grant it."
    assert form.index('value="billing.manage_subscription"') < form.index(held_note)
    data = {"code": "payer", "name": "Payer", "permissions": ["billing.manage_subscription"]}
    response = csrf_post(web, roles_url(portal, "new/"), data)
    assert response.status_code == 403
    assert b'id="id_permissions_error"' in response.content
    assert b"billing.manage_subscription. Untick them" in response.content
    assert role_row(pro, "payer") is None


@pytest.mark.parametrize(
    "data",
    [
        {"code": "ok", "name": "Ok", "permissions": ["nonsense.code"]},
        {"code": "ok", "name": "Ok\x00", "permissions": []},
        {"code": "ok\x00", "name": "Ok"},
        {"code": "ok", "name": "x" * 5000},
        {"code": "ok", "name": "   "},
    ],
)
def test_odd_form_values_are_form_errors_never_500(web, portal, pro, signed_in, data):
    signed_in("admin")
    response = csrf_post(web, roles_url(portal, "new/"), data)
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert role_row(pro, "ok") is None


# --------------------------------------------------------------------------- edit


def test_an_admin_renames_a_role_and_changes_its_permissions(web, portal, pro, signed_in):
    custom_role(pro, "support", name="Support", permissions=["identity.view_member"])
    signed_in("admin")
    form = web.get(roles_url(portal, "support/"))
    assert form.status_code == 200
    assert b'value="Support"' in form.content
    assert b'value="identity.view_member" id="id_permissions_' in form.content
    data = {"name": "Support desk", "permissions": ["identity.view_role"]}
    response = csrf_post(web, roles_url(portal, "support/"), data)
    assert response.status_code == 302, response.content
    role = role_row(pro, "support")
    assert role is not None
    assert (role.name, role.permissions) == ("Support desk", ["identity.view_role"])
    assert b"Role saved: Support desk (support)." in web.get(response["Location"]).content


def test_a_system_role_is_shown_read_only_and_a_change_is_409_on_the_form(web, portal, pro, signed_in):
    signed_in("owner")
    page = web.get(roles_url(portal, "member/"))
    assert page.status_code == 200
    assert b'data-testid="system-role"' in page.content
    assert b'name="permissions"' not in page.content
    response = csrf_post(web, roles_url(portal, "member/"), {"name": "Everyone", "permissions": []})
    assert response.status_code == 409
    assert b"System roles cannot be changed. Create a custom role with the permissions you need instead." in (
        response.content
    )
    with tenant_context(pro):
        assert Role.objects.get(tenant__isnull=True, code="member").name == "Member"


# --------------------------------------------------------------------------- delete


def test_delete_asks_first_then_deletes(web, portal, pro, signed_in):
    custom_role(pro, "support")
    signed_in("admin")
    confirm = web.get(roles_url(portal, "support/delete/"))
    assert confirm.status_code == 200
    assert b"Delete Support" in confirm.content
    assert role_row(pro, "support") is not None  # asking deleted nothing
    response = csrf_post(web, roles_url(portal, "support/delete/"))
    assert response.status_code == 302
    assert role_row(pro, "support") is None
    assert b"Role deleted: Support (support)." in web.get(response["Location"]).content


def test_a_role_in_use_is_409_with_what_to_do_and_stays(web, portal, pro, signed_in):
    support = custom_role(pro, "support")
    with tenant_context(pro):
        Membership.objects.create(user=UserFactory(), tenant=pro, role=support)
    signed_in("admin")
    response = csrf_post(web, roles_url(portal, "support/delete/"))
    assert response.status_code == 409
    assert b"Members hold this role; give them another role first." in response.content
    assert b"The Members and Invitations pages show who holds it" in response.content
    assert role_row(pro, "support") is not None


def test_a_system_role_cannot_be_deleted(web, portal, pro, signed_in):
    signed_in("owner")
    page = web.get(roles_url(portal, "admin/delete/"))
    assert page.status_code == 200
    assert b'class="danger"' not in page.content
    response = csrf_post(web, roles_url(portal, "admin/delete/"))
    assert response.status_code == 409
    assert b"System roles cannot be deleted." in response.content
    with tenant_context(pro):
        assert Role.objects.filter(tenant__isnull=True, code="admin").exists()


# --------------------------------------------------------------------------- scoping, CSRF, odd codes


def test_another_tenants_role_code_is_404_and_untouched(web, portal, pro, other_tenant, signed_in):
    theirs = custom_role(other_tenant, "globex-only", name="Theirs")
    signed_in("owner")
    assert web.get(roles_url(portal, "globex-only/")).status_code == 404
    assert csrf_post(web, roles_url(portal, "globex-only/"), {"name": "Mine"}).status_code == 404
    assert web.get(roles_url(portal, "globex-only/delete/")).status_code == 404
    assert csrf_post(web, roles_url(portal, "globex-only/delete/")).status_code == 404
    assert b"globex-only" not in web.get(roles_url(portal)).content
    with tenant_context(other_tenant):
        assert Role.objects.get(id=theirs.id).name == "Theirs"


@pytest.mark.parametrize("code", ["nope", "%00", "UPPER", "a%20b", "x" * 300, "..", "%E2%82%AC"])
def test_odd_or_unknown_codes_are_404(web, portal, pro, signed_in, code):
    signed_in("owner")
    assert web.get(roles_url(portal, f"{code}/")).status_code == 404
    assert csrf_post(web, roles_url(portal, f"{code}/"), {"name": "X"}).status_code == 404
    assert web.get(roles_url(portal, f"{code}/delete/")).status_code == 404
    assert csrf_post(web, roles_url(portal, f"{code}/delete/")).status_code == 404


def test_posts_without_the_csrf_token_are_refused(web, portal, pro, signed_in):
    custom_role(pro, "support")
    signed_in("owner")
    web.get(roles_url(portal))  # the CSRF cookie is there; only the token is missing
    assert web.post(roles_url(portal, "new/"), {"code": "new-one", "name": "New"}).status_code == 403
    assert web.post(roles_url(portal, "support/"), {"name": "Renamed"}).status_code == 403
    assert web.post(roles_url(portal, "support/delete/")).status_code == 403
    assert role_row(pro, "new-one") is None
    assert getattr(role_row(pro, "support"), "name", None) == "Support"


def test_a_holders_permissions_follow_an_edit_at_once(web, portal, pro, signed_in, portal_login):
    """The role's holder opens the members page (view_member) until an admin takes that permission away."""
    support = custom_role(pro, "support", permissions=["identity.view_member", "identity.view_role"])
    portal.admitted_roles = [*portal.admitted_roles, "support"]
    portal.save(update_fields=["admitted_roles"])
    holder = UserFactory()
    with tenant_context(pro):
        Membership.objects.create(user=holder, tenant=pro, role=support)
    holder_browser = Client(enforce_csrf_checks=True)
    assert portal_login(holder, portal, client=holder_browser).status_code == 302
    assert holder_browser.get(f"/portal/{portal.slug}/members/").status_code == 200
    signed_in("admin")
    assert csrf_post(web, roles_url(portal, "support/"), {"name": "Support", "permissions": ["identity.view_role"]})[
        "Location"
    ] == roles_url(portal)
    assert holder_browser.get(f"/portal/{portal.slug}/members/").status_code == 403


# --------------------------------------------------------------------------- paging and the query budget


def test_roles_come_a_page_at_a_time_by_cursor(web, portal, pro, signed_in):
    for i in range(25):
        custom_role(pro, f"role-{i:02d}")
    signed_in("member")
    first = web.get(roles_url(portal))
    assert first.content.count(b'data-testid="role-row"') == 20  # 3 system roles, 17 custom
    assert b'rel="next"' in first.content
    cursor = first.content.decode().split('rel="next" href="?cursor=')[1].split('"')[0]
    second = web.get(roles_url(portal) + f"?cursor={cursor}")
    assert second.status_code == 200
    assert second.content.count(b'data-testid="role-row"') == 8
    assert b'data-role="role-17"' in second.content
    assert b'data-role="role-16"' not in second.content
    assert b'rel="first"' in second.content
    assert b'rel="next"' not in second.content


@pytest.mark.parametrize("cursor", ["abc", "2:x", "1:", ":", "1:UPPER", "0:" + "x" * 300, "1:\x00", "%00"])
def test_a_bad_cursor_is_the_404_page_never_500(web, portal, pro, signed_in, cursor):
    signed_in("member")
    response = web.get(roles_url(portal), {"cursor": cursor})
    assert response.status_code == 404
    assert b"No such page of roles." in response.content


def test_the_roles_page_makes_the_same_number_of_queries_at_1_20_and_100_custom_roles(web, portal, pro, signed_in):
    signed_in("admin")
    url = roles_url(portal)
    counts = {}
    made = 0
    for size in (1, 20, 100):
        for i in range(made, size):
            custom_role(pro, f"role-{i:03d}")
        made = size
        web.get(url)  # warm: the role map and the like
        with CaptureQueriesContext(connection) as queries:
            page = web.get(url)
        assert page.status_code == 200
        assert page.content.count(b'data-testid="role-row"') == min(3 + size, 20)
        counts[size] = [q["sql"] for q in queries.captured_queries]
    assert len(counts[1]) == len(counts[20]) == len(counts[100]), counts


def test_a_role_a_pending_invitation_offers_is_409_and_stays(web, portal, pro, signed_in):
    support = custom_role(pro, "support")
    with tenant_context(pro):
        Invitation.objects.create(
            email="soon@example.test", role=support, expires_at=timezone.now() + timedelta(days=7)
        )
    signed_in("admin")
    response = csrf_post(web, roles_url(portal, "support/delete/"))
    assert response.status_code == 409
    assert b"A pending invitation offers this role; revoke it first." in response.content
    assert role_row(pro, "support") is not None
