"""create_tenant and seed_demo as operators use them."""

from __future__ import annotations

import io
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.common.tenancy import tenant_context, unscoped
from apps.identity import plugs
from apps.identity.models import Membership, Portal, Tenant, User

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_tenant_with_password_makes_tenant_portal_and_owner():
    out = run(
        "create_tenant",
        "--slug",
        "initech",
        "--name",
        "Initech",
        "--owner-email",
        "Boss@Initech.test",
        "--owner-password",
        "a long enough passphrase",
    )
    tenant = Tenant.objects.get(slug="initech")
    portal = Portal.objects.get(slug="initech")
    assert portal.tenant == tenant
    assert portal.is_default
    assert sorted(portal.admitted_roles) == ["admin", "member", "owner"]
    owner = User.objects.get(email__iexact="boss@initech.test")
    assert owner.check_password("a long enough passphrase")
    with tenant_context(tenant):
        assert Membership.objects.get(user=owner).role.code == "owner"
    assert tenant.plan_code == "free"
    assert "created tenant initech" in out
    assert mail.outbox == []


def test_create_tenant_without_password_mails_a_working_set_password_link(client):
    run("create_tenant", "--slug", "hooli", "--name", "Hooli", "--owner-email", "gavin@hooli.test")
    owner = User.objects.get(email="gavin@hooli.test")
    assert not owner.has_usable_password()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["gavin@hooli.test"]
    link = re.search(r"https?://\S+/portal/hooli/password/reset/\?uid=(\S+)&token=(\S+)", message.body)
    assert link, message.body
    html = message.alternatives[0][0]
    assert "/portal/hooli/password/reset/?uid=" in html
    # The token is Django's reset token for this user: valid now, and only for them.
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.http import urlsafe_base64_decode

    assert urlsafe_base64_decode(link.group(1)).decode() == str(owner.pk)
    assert default_token_generator.check_token(owner, link.group(2))


def test_create_tenant_with_a_taken_slug_exits_1_with_a_message_and_changes_nothing():
    run(
        "create_tenant",
        "--slug",
        "taken",
        "--name",
        "First",
        "--owner-email",
        "first@example.test",
        "--owner-password",
        "a long enough passphrase",
    )
    with pytest.raises(CommandError, match="already taken"):
        run("create_tenant", "--slug", "taken", "--name", "Second", "--owner-email", "second@example.test")
    assert Tenant.objects.get(slug="taken").name == "First"
    assert not User.objects.filter(email="second@example.test").exists()


def test_create_tenant_refuses_a_portal_slug_of_another_tenant():
    run("seed_demo", "--password", "demo password 123")
    with pytest.raises(CommandError, match="already taken"):
        run("create_tenant", "--slug", "acme-admin", "--name", "X", "--owner-email", "x@example.test")


@pytest.mark.parametrize("slug", ["Bad Slug", "-dash", "a" * 64, "ünïcode"])
def test_create_tenant_rejects_malformed_slugs(slug):
    with pytest.raises(CommandError, match="slug"):
        run("create_tenant", "--slug", slug, "--name", "X", "--owner-email", "x@example.test")
    assert not Tenant.objects.exists()


def test_create_tenant_unknown_plan_is_refused():
    with pytest.raises(CommandError, match="Unknown plan"):
        run("create_tenant", "--slug", "planless", "--name", "X", "--owner-email", "x@example.test", "--plan", "gold")


def test_create_tenant_runs_tenant_created_hooks_in_the_tenants_context():
    seen = []

    def hook(tenant):
        from apps.common.tenancy import current_tenant

        seen.append((tenant.slug, current_tenant().slug))

    plugs.on_tenant_created(hook)
    try:
        run("create_tenant", "--slug", "hooked", "--name", "Hooked", "--owner-email", "h@example.test")
    finally:
        plugs.plugs.tenant_created.remove(hook)
    assert seen == [("hooked", "hooked")]


def test_a_failing_hook_rolls_the_whole_tenant_back():
    def hook(tenant):
        raise RuntimeError("billing is down")

    plugs.on_tenant_created(hook)
    try:
        with pytest.raises(RuntimeError):
            run("create_tenant", "--slug", "doomed", "--name", "Doomed", "--owner-email", "d@example.test")
    finally:
        plugs.plugs.tenant_created.remove(hook)
    assert not Tenant.objects.filter(slug="doomed").exists()
    assert not User.objects.filter(email="d@example.test").exists()


def test_seed_demo_creates_the_documented_tenants_portals_and_users():
    out = run("seed_demo", "--password", "demo password 123")
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"acme", "globex"}
    portals = {p.slug: p for p in Portal.objects.select_related("tenant")}
    assert {s: p.tenant.slug for s, p in portals.items()} == {"acme": "acme", "acme-admin": "acme", "globex": "globex"}
    assert sorted(portals["acme-admin"].admitted_roles) == ["admin", "owner"]
    expected = {
        "owner@acme.test": ("acme", "owner"),
        "admin@acme.test": ("acme", "admin"),
        "member@acme.test": ("acme", "member"),
        "owner@globex.test": ("globex", "owner"),
    }
    with unscoped():
        got = {
            m.user.email: (m.tenant.slug, m.role.code)
            for m in Membership.all_tenants.select_related("user", "tenant", "role")
        }
    assert got == expected
    for email in expected:
        assert User.objects.get(email=email).check_password("demo password 123")
        assert email in out
    assert "demo password 123" in out


def test_seed_demo_is_idempotent_and_password_resets_on_rerun():
    run("seed_demo", "--password", "first password 123")
    counts = (Tenant.objects.count(), Portal.objects.count(), User.objects.count())
    out = run("seed_demo", "--password", "second password 456")
    assert (Tenant.objects.count(), Portal.objects.count(), User.objects.count()) == counts
    assert User.objects.get(email="member@acme.test").check_password("second password 456")
    assert "created" not in out.replace("tenant acme: unchanged", "")


def test_seed_demo_without_password_makes_random_ones_once():
    first = run("seed_demo")
    user = User.objects.get(email="owner@acme.test")
    shown = re.search(r"owner@acme\.test\s+(\S+)", first).group(1)
    assert user.check_password(shown)
    second = run("seed_demo")
    user.refresh_from_db()
    assert user.check_password(shown)
    assert "unchanged" in second
