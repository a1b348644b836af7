"""CSV downloads keep every cell text in a spreadsheet (OWASP "CSV Injection"); `members.csv` obeys its page's rules.

`apps.common.csv_export` prefixes a text cell that a spreadsheet would run as a formula (`=`, `+`,
`-`, `@`, tab, CR first) with `'`, and quotes every cell. The members page's "Download CSV"
(`/portal/<slug>/members.csv`) lists the tenant's members through the members selector, for
whoever may see the members page, as an attachment that no cache keeps.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from apps.common.csv_export import FORMULA_STARTS, csv_response, csv_text, neutralise, safe_filename
from apps.common.tenancy import tenant_context
from apps.identity.models import User
from apps.identity.tests.factories import PASSWORD, UserFactory
from apps.identity.tests.members_roles_support import custom_role
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.members_support import membership_of

HYPERLINK = '=HYPERLINK("http://evil","x")'
FORMULAS = [
    HYPERLINK,
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "-@=1",
]


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --------------------------------------------------------------------------- the module


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_made_text(value):
    assert neutralise(value) == f"'{value}"
    ((cell,),) = parse(csv_text(["Name"], [[value]]))[1:]
    assert cell == f"'{value}"
    assert not cell.startswith(FORMULA_STARTS)


@pytest.mark.parametrize("value", ["Ada Lovelace", "a=b", "1-2", "x@example.test", "", "'quoted", " =1", "é=1"])
def test_other_text_is_left_as_typed(value):
    assert neutralise(value) == value


def test_values_the_code_produces_are_written_as_they_are():
    assert neutralise(None) == ""
    assert neutralise(-5) == "-5"  # a number is no one's input
    assert neutralise(3.5) == "3.5"


def test_every_cell_is_quoted_so_no_value_ends_its_cell_or_row():
    tricky = 'a","=1+1\r\nnext,row'
    text = csv_text(["Name", "Email"], [[tricky, "x@example.test"]])
    assert text.startswith('"Name","Email"\r\n')
    rows = parse(text)
    assert rows == [["Name", "Email"], [tricky, "x@example.test"]]


def test_a_header_name_is_neutralised_too():
    assert parse(csv_text(["=evil"], []))[0] == ["'=evil"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("acme-members", "acme-members.csv"),
        ("acme-members.csv", "acme-members.csv"),
        ('a"; filename="evil.exe', "a-filename-evil.exe.csv"),
        ("a\r\nSet-Cookie: x=1", "a-Set-Cookie-x-1.csv"),
        ("../../etc/passwd", "etc-passwd.csv"),
        ("", "export.csv"),
    ],
)
def test_the_download_name_keeps_to_safe_characters(given, expected):
    assert safe_filename(given) == expected


def test_the_response_is_an_attachment_that_no_cache_keeps():
    response = csv_response("x", ["Name"], [["=1"]])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.decode() == '"Name"\r\n"\'=1"\r\n'


# --------------------------------------------------------------------------- the members page's download


def csv_url(portal) -> str:
    return f"/portal/{portal.slug}/members.csv"


def signed_in(portal, user) -> Client:
    web = Client(enforce_csrf_checks=True)
    response = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return web


def named_member(member, name: str, email: str):
    user = member("member", user=UserFactory(email=email))
    User.objects.filter(id=user.id).update(name=name)
    return user


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.django_db
def test_members_csv_lists_every_member_with_formulas_made_text(portal, member):
    owner = member("owner")
    named_member(member, HYPERLINK, "evil@example.test")
    named_member(member, "<script>alert(1)</script>", "script@example.test")
    for _ in range(25):  # more than a page of the members page
        member("member")
    response = signed_in(portal, owner).get(csv_url(portal))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="acme-test-members.csv"'
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    rows = parse(response.content.decode())
    assert rows[0] == ["Name", "Email", "Role", "Status", "Member since"]
    by_email = {row[1]: row for row in rows[1:]}
    assert len(by_email) == 28
    assert by_email["evil@example.test"][0] == f"'{HYPERLINK}"
    assert by_email["evil@example.test"][2:4] == ["Member", "Active"]
    assert by_email[owner.email][2] == "Owner"
    assert by_email["script@example.test"][0] == "<script>alert(1)</script>"  # text in a download, never a page
    assert b'"=HYPERLINK' not in response.content
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows for cell in row)


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.django_db
def test_members_csv_holds_no_other_tenants_member(portal, member, other_tenant):
    owner = member("owner")
    member("member", user=UserFactory(email="elsewhere@example.test"), of=other_tenant)
    rows = parse(signed_in(portal, owner).get(csv_url(portal)).content.decode())
    assert [row[1] for row in rows[1:]] == [owner.email]


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.django_db
def test_the_members_page_links_to_the_download(portal, member):
    content = signed_in(portal, member("member")).get(f"/portal/{portal.slug}/members/").content.decode()
    assert f'href="{csv_url(portal)}"' in content
    assert "Download CSV" in content


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.django_db
def test_members_csv_needs_the_members_pages_permission(portal, member, tenant):
    anonymous = Client().get(csv_url(portal))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(f"/portal/{portal.slug}/login/")
    user = member("member")
    role = custom_role(tenant, "outsider", [])
    portal.admitted_roles = [*portal.admitted_roles, "outsider"]
    portal.save(update_fields=["admitted_roles"])
    with tenant_context(tenant):
        membership = membership_of(user, tenant)
        membership.role = role
        membership.save(update_fields=["role"])
    refused = signed_in(portal, user).get(csv_url(portal))
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/html")
    assert b"@example.test" not in refused.content


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.django_db
def test_members_csv_is_a_download_only(portal, member):
    web = signed_in(portal, member("owner"))
    assert web.post(csv_url(portal)).status_code in (403, 405)
    assert web.get(f"/portal/{portal.slug}/members.csv/").status_code == 404
