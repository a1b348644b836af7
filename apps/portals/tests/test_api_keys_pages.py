"""API-keys pages: the list, create (the key shown once, no-store), revoke, through identity's API-key services.

Who may open what (`integrations.manage_api_key`, the plan's "api_keys"), the services' refusals on the form,
other tenants' ids, CSRF, odd input, and the list's cursor paging and query budget.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity.api_key_format import key_digest
from apps.identity.models import ApiKey, Tenant
from apps.identity.services import api_keys
from apps.portals.tests.conftest import csrf_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

KEY_RE = re.compile(r"atr_[A-Za-z0-9]+_[A-Za-z0-9_-]+")


def keys_url(portal, suffix: str = "") -> str:
    return f"/portal/{portal.slug}/api-keys/{suffix}"


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


def keys_of(tenant) -> list[ApiKey]:
    with tenant_context(tenant):
        return list(ApiKey.objects.filter(tenant=tenant).order_by("created_at"))


def make_key(tenant, actor, name: str = "CRM sync", role: str = "member") -> tuple[ApiKey, str]:
    with tenant_context(tenant):
        return api_keys.api_key_create(tenant=Tenant.objects.get(id=tenant.id), actor=actor, name=name, role=role)


def create(web, portal, **data):
    return csrf_post(web, keys_url(portal), {"name": "CRM sync", "role": "member", "expires_at": "", **data})


@pytest.fixture
def pro(tenant, pro_plan):
    """The test tenants on `pro`, whose plan includes API keys (`free` does not)."""
    return tenant


# --------------------------------------------------------------------------- who may open what


def test_an_owner_sees_the_page_in_the_navigation_with_the_form(web, portal, pro, signed_in):
    signed_in("owner")
    page = web.get(keys_url(portal))
    assert page.status_code == 200
    assert ">API keys</a>" in nav_links(page.content)
    text = page.content.decode()
    assert '<label for="id_name">Name</label>' in text
    for role in ("owner", "admin", "member"):
        assert f'<option value="{role}"' in text
    assert "No API keys yet." in text


def test_a_member_without_the_permission_gets_403_everywhere_and_no_link(web, portal, pro, signed_in, member):
    key, _ = make_key(pro, member("owner"))
    signed_in("member")
    for path in (keys_url(portal), keys_url(portal, f"{key.id}/revoke/")):
        assert web.get(path).status_code == 403, path
        assert csrf_post(web, path, {"name": "x", "role": "member"}).status_code == 403, path
    assert len(keys_of(pro)) == 1
    assert keys_of(pro)[0].revoked_at is None
    assert ">API keys</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_on_a_plan_without_api_keys_the_pages_are_403_and_not_in_the_navigation(web, portal, tenant, signed_in):
    assert Tenant.objects.get(id=tenant.id).plan_code == "free"
    signed_in("owner")
    for path in (keys_url(portal), keys_url(portal, "00000000-0000-0000-0000-000000000000/revoke/")):
        response = web.get(path)
        assert response.status_code == 403, path
        assert b"not part of this portal or of your organisation" in response.content
    assert create(web, portal).status_code == 403
    assert keys_of(tenant) == []
    assert ">API keys</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_anonymous_visitors_go_to_the_login_page(web, portal, pro):
    for suffix in ("", "00000000-0000-0000-0000-000000000000/revoke/"):
        response = web.get(keys_url(portal, suffix))
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


# --------------------------------------------------------------------------- create: the key once


def test_the_new_key_is_shown_once_with_no_store_and_never_again(web, portal, pro, signed_in, caplog):
    signed_in("owner")
    caplog.set_level(logging.DEBUG)
    response = create(web, portal, name="CRM sync", role="admin")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "Location" not in response
    text = response.content.decode()
    assert "it will not be shown again" in text
    shown = KEY_RE.findall(text)
    assert len(shown) == 1, shown  # once, in the <code> block
    full_key = shown[0]
    (key,) = keys_of(pro)
    assert (key.name, key.role_code, key.expires_at) == ("CRM sync", "admin", None)
    assert full_key.startswith(f"atr_{key.prefix}_")
    assert key.secret_hash == key_digest(full_key)  # the key that works is the one shown
    assert f'data-testid="new-api-key">{full_key}</code>' in text

    listed = web.get(keys_url(portal))
    assert full_key.encode() not in listed.content
    assert f"atr_{key.prefix}_…".encode() in listed.content
    assert full_key not in str(dict(web.session.items()))
    assert full_key not in caplog.text


def test_the_list_shows_each_keys_facts(web, portal, pro, signed_in):
    me = signed_in("owner")
    used, _ = make_key(pro, me, name="Used key")
    gone, _ = make_key(pro, me, name="Gone key")
    old, _ = make_key(pro, me, name="Old key")
    with tenant_context(pro):
        ApiKey.objects.filter(id=used.id).update(last_used_at=timezone.now(), last_used_ip="203.0.113.7")
        ApiKey.objects.filter(id=gone.id).update(revoked_at=timezone.now())
        ApiKey.objects.filter(id=old.id).update(expires_at=timezone.now() - timedelta(days=1))
    text = web.get(keys_url(portal)).content.decode()
    rows = {m[1]: m[0] for m in re.findall(r'data-key="([^"]+)" data-status="(\w+)"', text)}
    assert rows == {"active": str(used.id), "revoked": str(gone.id), "expired": str(old.id)}
    assert "from 203.0.113.7" in text
    assert keys_url(portal, f"{used.id}/revoke/") in text
    assert keys_url(portal, f"{gone.id}/revoke/") not in text


def test_an_expiry_date_means_the_end_of_that_day_and_a_past_one_is_refused_on_the_field(web, portal, pro, signed_in):
    signed_in("owner")
    day = timezone.now().date() + timedelta(days=30)
    assert create(web, portal, expires_at=day.isoformat()).status_code == 200
    assert keys_of(pro)[0].expires_at == datetime.combine(day, time.max, tzinfo=UTC)

    response = create(web, portal, name="Too late", expires_at="2001-01-01")
    assert response.status_code == 400
    assert re.search(r'id="id_expires_at_error">Give a time in the future.<', response.content.decode())
    assert len(keys_of(pro)) == 1


def test_an_admin_cannot_give_a_key_the_owner_role_and_is_told_so_on_the_field(web, portal, pro, signed_in):
    signed_in("admin")
    response = create(web, portal, role="owner")
    assert response.status_code == 403
    text = response.content.decode()
    assert re.search(r'id="id_role_error">Only an owner can make someone an owner\.', text)
    assert "Choose a role whose permissions you hold yourself" in text
    assert keys_of(pro) == []


@pytest.mark.parametrize(
    "data",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 500},
        {"role": "nope"},
        {"role": ""},
        {"expires_at": "garbage"},
        {"expires_at": "2024-02-30"},
        {"expires_at": "99999-01-01"},
    ],
)
def test_odd_input_is_a_form_error_never_a_500(web, portal, pro, signed_in, data):
    signed_in("owner")
    response = create(web, portal, **data)
    assert response.status_code == 400, response.content
    assert b'class="field-error"' in response.content
    assert keys_of(pro) == []


def test_the_furthest_date_the_field_takes_makes_a_key(web, portal, pro, signed_in):
    signed_in("owner")
    assert create(web, portal, expires_at="9999-12-31").status_code == 200
    assert keys_of(pro)[0].expires_at.year == 9999


def test_posting_without_the_csrf_token_is_refused(web, portal, pro, signed_in, member):
    signed_in("owner")
    assert web.post(keys_url(portal), {"name": "x", "role": "member"}).status_code == 403
    key, _ = make_key(pro, member("owner"))
    assert web.post(keys_url(portal, f"{key.id}/revoke/")).status_code == 403
    assert [k.revoked_at for k in keys_of(pro)] == [None]


# --------------------------------------------------------------------------- revoke


def test_revoking_asks_first_then_the_key_is_revoked(web, portal, pro, signed_in):
    me = signed_in("owner")
    key, _ = make_key(pro, me, name="CRM sync")
    confirm = web.get(keys_url(portal, f"{key.id}/revoke/"))
    assert confirm.status_code == 200
    assert b"Revoke the key <strong>CRM sync</strong>" in confirm.content
    assert keys_of(pro)[0].revoked_at is None

    done = csrf_post(web, keys_url(portal, f"{key.id}/revoke/"))
    assert done.status_code == 302
    assert done["Location"] == keys_url(portal)
    assert keys_of(pro)[0].revoked_at is not None
    listed = web.get(keys_url(portal)).content.decode()
    assert "API key revoked: CRM sync" in listed
    assert 'data-status="revoked"' in listed
    again = web.get(keys_url(portal, f"{key.id}/revoke/"))
    assert b"is already revoked" in again.content


@pytest.mark.parametrize("key_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-000000000000", "%00"])
def test_an_unknown_or_odd_key_id_is_the_404_page(web, portal, pro, signed_in, key_id):
    signed_in("owner")
    assert web.get(keys_url(portal, f"{key_id}/revoke/")).status_code == 404
    assert csrf_post(web, keys_url(portal, f"{key_id}/revoke/")).status_code == 404


def test_another_tenants_key_is_the_404_page_and_stays_active(web, portal, pro, other_tenant, member, signed_in):
    theirs, _ = make_key(other_tenant, member("owner", of=other_tenant))
    signed_in("owner")
    assert web.get(keys_url(portal, f"{theirs.id}/revoke/")).status_code == 404
    assert csrf_post(web, keys_url(portal, f"{theirs.id}/revoke/")).status_code == 404
    assert keys_of(other_tenant)[0].revoked_at is None
    assert str(theirs.id) not in web.get(keys_url(portal)).content.decode()


# --------------------------------------------------------------------------- the list: paging and queries


def bulk_keys(tenant, creator, count: int) -> None:
    with tenant_context(tenant):
        ApiKey.objects.bulk_create(
            ApiKey(
                tenant=tenant,
                name=f"k{i}",
                role_code="member",
                created_by=creator,
                prefix=f"p{count}x{i}",
                secret_hash="0" * 64,
            )
            for i in range(count)
        )


def row_count(content: bytes) -> int:
    return content.count(b'data-testid="api-key-row"')


def test_the_list_makes_the_same_queries_at_1_20_and_100_keys(web, portal, pro, signed_in):
    me = signed_in("owner")
    counts = {}
    for total in (1, 20, 100):
        with tenant_context(pro):
            ApiKey.objects.all().delete()
        bulk_keys(pro, me, total)
        web.get(keys_url(portal))  # warm: what a first request loads once
        for query in ("", "?page_size=100"):
            with CaptureQueriesContext(connection) as queries:
                page = web.get(keys_url(portal) + query)
            assert page.status_code == 200
            assert row_count(page.content) == (min(total, 20) if not query else total)
            counts[(total, query)] = len(queries.captured_queries)
    assert len(set(counts.values())) == 1, counts


def test_cursor_paging_walks_every_key_once(web, portal, pro, signed_in):
    me = signed_in("owner")
    bulk_keys(pro, me, 45)
    seen: list[str] = []
    url, pages = keys_url(portal), 0
    while url:
        html = web.get(url).content.decode()
        seen += re.findall(r'data-testid="api-key-row" data-key="([^"]+)"', html)
        older = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 45


@pytest.mark.parametrize("cursor", ["garbage", "%%%", "cD0yMDI0LTAxLTAxVDAwOjAwOjAw", "eD0x", "\x00"])
def test_a_cursor_the_list_did_not_mint_is_the_404_page(web, portal, pro, signed_in, cursor):
    signed_in("owner")
    assert web.get(keys_url(portal), {"cursor": cursor}).status_code == 404
