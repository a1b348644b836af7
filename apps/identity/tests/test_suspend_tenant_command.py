"""`manage.py suspend_tenant`: the operator's way to stop a tenant during an incident, and back."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Tenant
from apps.identity.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ME = "/api/v1/identity/auth/me/"
LOGIN = "/api/v1/identity/auth/login/"


def _run(*args: str) -> str:
    out = StringIO()
    call_command("suspend_tenant", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)  # a refused sign-in is audited durably, on a second connection
def test_suspending_ends_access_and_lifting_lets_sign_in_back(api, login, member, portal, tenant):
    user = member()
    tokens = login(user, portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 200

    assert "ended 1 session" in _run(tenant.slug, "--reason", "incident 42")
    assert api.get(ME).status_code == 401
    api.credentials()
    body = {"email": user.email, "password": PASSWORD, "portal": portal.slug}
    assert api.post(LOGIN, body, format="json").status_code == 403

    assert "Reactivated" in _run(tenant.slug, "--lift")
    assert api.post(LOGIN, body, format="json").status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 401  # the sessions the suspension ended stay ended
    with tenant_context(tenant):
        events = AuditEvent.objects.filter(action__startswith="tenant.").order_by("seq")
        actions = list(events.values_list("action", "data"))
    assert [a for a, _ in actions] == ["tenant.suspended", "tenant.reactivated"]
    assert actions[0][1]["reason"] == "incident 42"


def test_twice_changes_nothing_more(tenant):
    _run(tenant.slug)
    assert "ended 0 sessions" in _run(tenant.slug)
    assert "Reactivated" in _run(tenant.slug, "--lift")
    assert "was not suspended" in _run(tenant.slug, "--lift")
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="tenant.suspended").count() == 1


@pytest.mark.parametrize("lift", [False, True])
def test_an_unknown_or_offboarded_slug_exits_1_and_changes_nothing(tenant, lift):
    flags = ["--lift"] if lift else []
    with pytest.raises(CommandError, match="unknown tenant slug"):
        _run("no-such-tenant", *flags)
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.OFFBOARDED)
    with pytest.raises(CommandError, match="offboarded"):
        _run(tenant.slug, *flags)
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.OFFBOARDED
