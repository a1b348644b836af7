"""Markup in a name is text everywhere it is shown (docs/security.md, "API input and web").

A tenant, portal, user, role, file, webhook endpoint (its description) and API key are named with
`<script>alert(1)</script>` and an attribute breakout `"><img src=x onerror=alert(1)>`. No portal
page that shows them, and no mail that names them, may carry the raw tags: each shows the escaped
text instead. The API answers JSON only (`application/json`, `nosniff`), even to a client asking for
HTML, so a browser never renders a name as a page.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.utils.html import escape

from apps.common.mail import mail_render
from apps.common.tenancy import tenant_context
from apps.identity.models import Portal, Tenant, User
from apps.identity.tests.api_keys_support import make_key
from apps.identity.tests.factories import PASSWORD
from apps.identity.tests.members_roles_support import custom_role
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.files_support import stored
from apps.portals.tests.members_support import membership_of
from apps.portals.tests.webhooks_support import make_endpoint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT}{BREAKOUT}"
RAW_TAGS = (SCRIPT, "<img src=x", "onerror=alert(1)>")

# What each object is called: a label a test can find, then both payloads.
NAMES = {
    "tenant": f"Org {PAYLOAD}",
    "portal": f"Portal {PAYLOAD}",
    "owner": f"Owner {PAYLOAD}",
    "member": f"Member {PAYLOAD}",
    "role": f"Role {PAYLOAD}",
    "file": f"File {SCRIPT}.txt",  # a file name keeps no `/` or `"`: the breakout is tried on the others
    "webhook": f"Hook {PAYLOAD}",
    "key": f"Key {PAYLOAD}",
}


def assert_no_raw_markup(content: str, where: str) -> None:
    for tag in RAW_TAGS:
        assert tag not in content, f"{where}: raw {tag!r}"


def assert_shows_escaped(content: str, names: list[str], where: str) -> None:
    assert_no_raw_markup(content, where)
    for name in names:
        assert escape(NAMES[name]) in content, f"{where}: {name}'s name is not shown escaped"


@pytest.fixture
def world(tenant, portal, member, settings, tmp_path):
    """Every named thing of the tenant named with the payloads; the owner's browser signed in."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the stored file goes under this test's temporary directory
    Tenant.objects.filter(id=tenant.id).update(name=NAMES["tenant"])
    Portal.objects.filter(id=portal.id).update(name=NAMES["portal"])
    tenant.refresh_from_db()
    owner = member("owner")
    User.objects.filter(id=owner.id).update(name=NAMES["owner"])
    other = member("member")
    User.objects.filter(id=other.id).update(name=NAMES["member"])
    role = custom_role(tenant, "auditor", ["identity.view_member"], name=NAMES["role"])
    with tenant_context(tenant):
        membership = membership_of(other, tenant)
        membership.role = role
        membership.save(update_fields=["role"])
    file = stored(tenant, owner, name=NAMES["file"])
    with tenant_context(tenant):
        endpoint = make_endpoint(tenant, owner, "http://127.0.0.1:9/in")
        endpoint.description = NAMES["webhook"]
        endpoint.save(update_fields=["description"])
    key, _full = make_key(tenant, owner, name=NAMES["key"])
    web = Client(enforce_csrf_checks=True)
    response = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": owner.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return {"web": web, "owner": owner, "other": other, "membership": membership, "file": file, "key": key,
            "endpoint": endpoint, "role": role}  # fmt: skip


def page(world, path: str) -> str:
    response = world["web"].get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


@pytest.mark.parametrize(
    ("suffix", "shown"),
    [
        ("dashboard/", ["portal", "tenant"]),
        ("members/", ["portal", "owner", "member", "role"]),
        ("members/{membership}/remove/", []),  # names the member by address
        ("members/invitations/", ["role"]),
        ("roles/", ["role"]),
        ("roles/auditor/", ["role"]),
        ("roles/auditor/delete/", ["role"]),
        ("files/", ["file"]),
        ("files/{file}/delete/", ["file"]),
        ("webhooks/", ["webhook"]),
        ("webhooks/{endpoint}/", ["webhook"]),
        ("api-keys/", ["key"]),
        ("api-keys/{key}/revoke/", ["key"]),
        ("profile/", ["owner"]),
        ("settings/", ["portal"]),
        ("security/", ["portal"]),
    ],
)
def test_pages_show_the_names_escaped(world, portal, suffix, shown):
    ids = {"membership": world["membership"].id, "file": world["file"].id, "key": world["key"].id,
           "endpoint": world["endpoint"].id}  # fmt: skip
    path = f"/portal/{portal.slug}/" + suffix.format(**ids)
    assert_shows_escaped(page(world, path), shown, path)


def test_the_signed_out_pages_show_the_portal_name_escaped(world, portal):
    for suffix in ("login/", "password/reset/", "email/resend/"):
        response = Client().get(f"/portal/{portal.slug}/{suffix}")
        assert response.status_code == 200
        assert_shows_escaped(response.content.decode(), ["portal"], suffix)


@pytest.mark.parametrize(
    "path",
    [
        f"/portal/acme-test/login/?next={BREAKOUT}",
        f"/portal/acme-test/login/?next=/portal/acme-test/{SCRIPT}",
        f"/portal/acme-test/members/?page={BREAKOUT}",
        f"/portal/acme-test/files/{SCRIPT}/delete/",
        f"/portal/{SCRIPT}/login/",
        f"/{SCRIPT}",
    ],
)
def test_markup_in_the_address_is_not_echoed_raw(world, path):
    response = world["web"].get(path)
    assert response.status_code < 500
    assert_no_raw_markup(response.content.decode(), path)


def test_a_form_shown_again_keeps_the_input_escaped(world, portal):
    path = f"/portal/{portal.slug}/roles/new/"
    response = csrf_post(world["web"], path, {"code": BREAKOUT, "name": PAYLOAD})
    assert response.status_code == 400
    content = response.content.decode()
    assert_no_raw_markup(content, path)
    assert escape(PAYLOAD) in content  # the name typed stays in its field, as text


# --------------------------------------------------------------------------- mails


def test_the_invitation_mail_escapes_every_name_in_its_html(world, portal, django_capture_on_commit_callbacks):
    User.objects.filter(id=world["owner"].id).update(name=NAMES["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        invitations = f"/portal/{portal.slug}/members/invitations/"
        response = csrf_post(world["web"], invitations, {"email": "new@example.test", "role": "auditor"})
    assert response.status_code == 302, response.content
    (message,) = [m for m in mail.outbox if m.to == ["new@example.test"]]
    html = message.alternatives[0][0]
    assert_shows_escaped(html, ["tenant", "portal", "owner", "role"], "invitation mail (HTML)")
    # The text part is text: the names as typed, nothing to escape (a mail client never renders it).
    assert NAMES["tenant"] in message.body
    assert "\n" not in message.subject


@pytest.mark.parametrize(
    ("template", "context", "shown"),
    [
        ("common/mail/notice", {"title": NAMES["portal"], "message": NAMES["member"]}, ["tenant", "portal", "member"]),
        (
            "integrations/mail/endpoint_disabled",
            {"url": NAMES["webhook"], "tenant_name": NAMES["tenant"], "failures": 20, "endpoint_id": "x"},
            ["tenant", "webhook"],
        ),
        ("identity/mail/password_changed", {"portal_name": NAMES["portal"]}, ["tenant"]),
    ],
)
def test_notice_mails_escape_names_in_their_html(world, tenant, template, context, shown):
    subject, _text, html = mail_render(template=template, context={**context, "tenant": tenant})
    assert_shows_escaped(html, shown, template)
    assert "\n" not in subject


# --------------------------------------------------------------------------- the API


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/identity/tenant/", "tenant"),
        ("/api/v1/identity/members/", "member"),
        ("/api/v1/identity/roles/", "role"),
        ("/api/v1/files/", "file"),
        ("/api/v1/integrations/api-keys/", "key"),
        ("/api/v1/integrations/webhooks/", "webhook"),
        ("/api/v1/identity/portals/acme-test/", "portal"),
    ],
)
def test_the_api_answers_names_as_json_never_as_html(world, api_client, portal, path, name):
    client = api_client(world["owner"], portal)
    for accept in ("application/json", "text/html", "*/*"):
        response = client.get(path, HTTP_ACCEPT=accept)
        content_type = response["Content-Type"]
        assert content_type.split(";")[0] in ("application/json", "application/problem+json"), (path, accept)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "text/html" not in content_type
        if response.status_code == 200:
            assert NAMES[name] in strings_in(response.json()), (path, accept)  # the name as it is, as data


def strings_in(data: object) -> set[str]:
    if isinstance(data, str):
        return {data}
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        return set().union(*(strings_in(item) for item in data))
    return set()
