"""Portal settings page: this portal's settings through identity's `portal_change`, as PATCH of the API.

Who may open it (manage_portal), every field saved, the service's field errors all at once beside
their fields, feature flags switching pages off, sessions that a change ends (and the message saying
how many), the owners' door, CSRF and odd input.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_change
from apps.common.tenancy import tenant_context
from apps.identity.models import Portal
from apps.identity.tests.factories import PortalFactory, UserFactory
from apps.portals.navigation import ENTRIES, page_requirements
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db


def settings_url(portal) -> str:
    return f"/portal/{portal.slug}/settings/"


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


def fresh(portal: Portal) -> Portal:
    return Portal.objects.get(id=portal.id)


def form_data(portal: Portal, **changes: Any) -> dict[str, Any]:
    """The form as the page fills it for `portal` (every flag on), with `changes` over it."""
    data: dict[str, Any] = {
        "name": portal.name,
        "primary_color": (portal.theme or {}).get("primary_color") or "#3b5bdb",
        "logo_url": (portal.theme or {}).get("logo_url") or "",
        "admitted_roles": list(portal.admitted_roles),
        "signup_policy": portal.signup_policy,
        "features": [code for _, name in ENTRIES if (code := page_requirements(name)[1])],
    }
    if portal.mfa_required:
        data["mfa_required"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def pro(tenant, rbac_seeded):
    """The tenant on the pro plan (every page's feature), moved through billing's service."""
    plan_seed()
    with tenant_context(tenant):
        subscription_change(tenant=tenant, actor=UserFactory(), plan="pro")
    return tenant


# --------------------------------------------------------------------------- who may open it


def test_an_owner_sees_this_portals_settings_filled_in_and_no_slug_field(web, portal, signed_in):
    signed_in("owner")
    page = web.get(settings_url(portal))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'name="name" value="{portal.name}"' in text
    assert 'type="color" name="primary_color"' in text
    assert 'name="admitted_roles" value="owner"' in text
    assert 'name="signup_policy" value="invite"' in text
    assert 'name="slug"' not in text
    assert "cannot be changed" in text
    assert '<script src="/static/portals/theme-preview.js" defer>' in text
    assert 'style="' not in text
    assert ">Settings</a>" in nav_links(page.content)


def test_without_manage_portal_the_page_is_403_and_not_in_the_navigation(web, portal, signed_in):
    signed_in("member")
    response = web.get(settings_url(portal))
    assert response.status_code == 403
    assert b"Your role does not allow this page." in response.content
    assert csrf_post(web, settings_url(portal), form_data(portal, name="Taken over")).status_code == 403
    assert fresh(portal).name == portal.name
    assert ">Settings</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_anonymous_visitors_go_to_the_login_page(web, portal, db):
    response = web.get(settings_url(portal))
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


def test_another_tenants_portal_is_not_reachable_with_this_session(web, portal, other_tenant, signed_in):
    theirs = PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex")
    signed_in("owner")
    response = web.get(settings_url(theirs))
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{theirs.slug}/login/")
    web.get(settings_url(portal))  # a CSRF cookie
    token = web.cookies["csrftoken"].value
    posted = web.post(settings_url(theirs), {**form_data(theirs, name="Mine now"), "csrfmiddlewaretoken": token})
    assert posted.status_code == 302
    assert fresh(theirs).name == "Globex"
    assert web.get(f"/portal/{portal.slug}/settings/nonexistent/").status_code == 404


# --------------------------------------------------------------------------- saving


def test_an_owner_saves_every_field(web, portal, signed_in):
    signed_in("owner")
    data = form_data(
        portal,
        name="  Renamed portal ",
        primary_color="#AA3300",
        logo_url="https://cdn.example.test/logo.png",
        admitted_roles=["owner", "admin"],
        signup_policy="open",
        mfa_required="on",
    )
    response = csrf_post(web, settings_url(portal), data)
    assert response.status_code == 302, response.content
    assert response["Location"] == settings_url(portal)
    saved = fresh(portal)
    assert saved.name == "Renamed portal"
    assert saved.theme["primary_color"] == "#aa3300"
    assert saved.theme["logo_url"] == "https://cdn.example.test/logo.png"
    assert saved.admitted_roles == ["owner", "admin"]
    assert saved.signup_policy == "open"
    assert saved.mfa_required is True
    assert saved.slug == portal.slug
    assert b"--primary: #aa3300" in web.get(f"/portal/{portal.slug}/theme.css").content


def test_saving_without_a_change_says_so(web, portal, signed_in):
    signed_in("owner")
    response = csrf_post(web, settings_url(portal), form_data(portal))
    assert response.status_code == 302
    assert b"Nothing changed." in web.get(response["Location"]).content
    assert fresh(portal).features == {}, "ticked flags the portal never had are not written"


def test_every_field_error_shows_at_once_beside_its_field_and_nothing_is_saved(web, portal, signed_in):
    signed_in("owner")
    data = form_data(
        portal,
        name="",
        primary_color="red",
        logo_url="http://insecure.example.test/logo.png",
        admitted_roles=[],
        signup_policy="everyone",
    )
    response = csrf_post(web, settings_url(portal), data)
    assert response.status_code == 400
    text = response.content.decode()
    for field, message in [
        ("name", "A portal needs a name."),
        ("primary_color", "Use a hex colour like #3b5bdb."),
        ("logo_url", "Use an https:// URL"),
        ("admitted_roles", "Admit at least one role."),
        ("signup_policy", "Select a valid choice."),
    ]:
        assert f'id="id_{field}_error">{message}' in text, field
    assert "Nothing was saved" in text
    saved = fresh(portal)
    assert (saved.name, saved.signup_policy) == (portal.name, portal.signup_policy)


@pytest.mark.parametrize(
    "changes",
    [
        {"admitted_roles": ["nonexistent"]},
        {"admitted_roles": ["<script>", "owner"]},
        {"features": ["no such flag"]},
        {"mfa_required": "maybe", "signup_policy": "x" * 5000},
        {"name": "x" * 5000},
        {"name": "Evil\x00name"},
        {"primary_color": "#12345\x00"},
        {"logo_url": "javascript:alert(1)"},
    ],
)
def test_odd_form_values_are_errors_on_the_form_never_500(web, portal, signed_in, changes):
    signed_in("owner")
    response = csrf_post(web, settings_url(portal), form_data(portal, **changes))
    assert response.status_code == 400, response.content[:500]
    assert b"field-error" in response.content
    assert fresh(portal).name == portal.name


def test_the_owners_keep_a_door(web, portal, signed_in):
    signed_in("owner")
    response = csrf_post(web, settings_url(portal), form_data(portal, admitted_roles=["admin", "member"]))
    assert response.status_code == 409
    assert b"Some active portal must admit owners; this change would leave them none." in response.content
    assert "owner" in fresh(portal).admitted_roles


def test_posts_without_the_csrf_token_are_refused(web, portal, signed_in):
    signed_in("owner")
    web.get(settings_url(portal))  # the CSRF cookie is there; only the token is missing
    assert web.post(settings_url(portal), form_data(portal, name="No token")).status_code == 403
    assert fresh(portal).name == portal.name


# --------------------------------------------------------------------------- sessions a change ends


def test_dropping_a_role_ends_its_sessions_and_says_how_many(web, portal, signed_in):
    member_browsers = [Client(enforce_csrf_checks=True) for _ in range(2)]
    for browser in member_browsers:
        signed_in("member", client=browser)
        assert browser.get(f"/portal/{portal.slug}/dashboard/").status_code == 200
    signed_in("owner")
    response = csrf_post(web, settings_url(portal), form_data(portal, admitted_roles=["owner", "admin"]))
    assert response.status_code == 302
    assert b"2 sessions ended" in web.get(response["Location"]).content
    for browser in member_browsers:
        ended = browser.get(f"/portal/{portal.slug}/dashboard/")
        assert ended.status_code == 302
        assert ended["Location"].startswith(f"/portal/{portal.slug}/login/")


def test_a_change_that_ends_no_session_says_nothing_about_sessions(web, portal, signed_in):
    signed_in("owner")
    response = csrf_post(web, settings_url(portal), form_data(portal, name="Only the name"))
    page = web.get(response["Location"]).content
    assert b"Portal settings saved." in page
    assert b"session" not in page.split(b'class="messages"')[1].split(b"</div>")[0]


# --------------------------------------------------------------------------- feature flags


def test_unticking_a_pages_flag_hides_the_page_and_makes_it_403(web, portal, pro, signed_in):
    signed_in("owner")
    page = web.get(settings_url(portal)).content.decode()
    assert 'name="features" value="custom_roles"' in page
    assert "Roles (custom_roles)" in page
    assert ">Roles</a>" in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)
    data = form_data(portal)
    data["features"] = [code for code in data["features"] if code != "custom_roles"]
    response = csrf_post(web, settings_url(portal), data)
    assert response.status_code == 302
    assert fresh(portal).features == {"custom_roles": False}
    assert ">Roles</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)
    assert web.get(f"/portal/{portal.slug}/roles/").status_code == 403
    # Ticked again: on, and the flag the portal now has stays written.
    assert csrf_post(web, settings_url(portal), form_data(portal)).status_code == 302
    assert fresh(portal).features == {"custom_roles": True}
    assert web.get(f"/portal/{portal.slug}/roles/").status_code == 200


def test_flags_the_portal_already_has_are_shown_and_kept_and_configuration_is_untouched(web, portal, signed_in):
    portal.features = {"legacy_flag": True, "social_providers": ["google"]}
    portal.save(update_fields=["features"])
    signed_in("owner")
    page = web.get(settings_url(portal)).content.decode()
    assert 'name="features" value="legacy_flag"' in page
    assert 'value="social_providers"' not in page
    data = form_data(portal)
    data["features"] = [*data["features"], "legacy_flag"]
    assert csrf_post(web, settings_url(portal), data).status_code == 302
    assert fresh(portal).features == {"legacy_flag": True, "social_providers": ["google"]}
    data["features"].remove("legacy_flag")
    assert csrf_post(web, settings_url(portal), data).status_code == 302
    assert fresh(portal).features == {"legacy_flag": False, "social_providers": ["google"]}


def test_a_flag_outside_the_plan_says_the_page_stays_hidden(web, portal, tenant, rbac_seeded, signed_in):
    plan_seed()
    with tenant_context(tenant):
        subscription_change(tenant=tenant, actor=UserFactory(), plan="free")
    signed_in("owner")
    page = web.get(settings_url(portal)).content.decode()
    roles_flag = page.index('value="custom_roles"')
    note = page.index("Not in your organisation's plan", roles_flag)
    assert note < page.index("</li>", roles_flag)
