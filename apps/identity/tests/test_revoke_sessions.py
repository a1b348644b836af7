"""`manage.py revoke_sessions --user EMAIL | --portal SLUG | --tenant SLUG`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.identity.tests.factories import PortalFactory, make_membership

pytestmark = pytest.mark.django_db(transaction=True)

ME = "/api/v1/identity/auth/me/"
REFRESH = "/api/v1/identity/auth/refresh/"


def _alive(tokens: dict) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client.get(ME).status_code == 200


def _run(*args: str) -> str:
    out = StringIO()
    call_command("revoke_sessions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def signed_in(member, portal, tenant, other_tenant, login):
    """Alice in two tenants (two portals of one), Bob in the first tenant."""
    alice, bob = member(), member()
    second = PortalFactory(tenant=tenant, slug="second")
    outside = PortalFactory(tenant=other_tenant, slug="outside")
    make_membership(user=alice, tenant=other_tenant)
    return {
        "alice_here": login(alice, portal),
        "alice_second": login(alice, second),
        "alice_outside": login(alice, outside),
        "bob_here": login(bob, portal),
        "alice": alice,
    }


def test_revoke_by_user(api, signed_in, login, portal):
    output = _run("--user", signed_in["alice"].email.upper())
    assert output.strip() == f"Ended 3 sessions of user {signed_in['alice'].email}."
    for key in ("alice_here", "alice_second", "alice_outside"):
        assert not _alive(signed_in[key])
        assert api.post(REFRESH, {"refresh": signed_in[key]["refresh"]}).status_code == 401
    assert _alive(signed_in["bob_here"])
    # The revocation ends what existed, not the account: signing in again right away works.
    assert _alive(login(signed_in["alice"], portal))


def test_revoke_by_portal(signed_in, portal, login):
    assert _run("--portal", portal.slug).strip() == f"Ended 2 sessions of portal {portal.slug}."
    assert not _alive(signed_in["alice_here"])
    assert not _alive(signed_in["bob_here"])
    assert _alive(signed_in["alice_second"])
    assert _alive(signed_in["alice_outside"])
    assert _alive(login(signed_in["alice"], portal))


def test_revoke_by_tenant(signed_in, tenant, portal, login):
    assert _run("--tenant", tenant.slug).strip() == f"Ended 3 sessions of tenant {tenant.slug}."
    assert not _alive(signed_in["alice_here"])
    assert not _alive(signed_in["alice_second"])
    assert not _alive(signed_in["bob_here"])
    assert _alive(signed_in["alice_outside"])
    assert _alive(login(signed_in["alice"], portal))


def test_second_run_ends_nothing(signed_in, tenant):
    _run("--tenant", tenant.slug)
    assert _run("--tenant", tenant.slug).strip() == f"Ended 0 sessions of tenant {tenant.slug}."


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--user", "ghost@example.test", "unknown user"),
        ("--portal", "nope", "unknown portal"),
        ("--tenant", "nope", "unknown tenant"),
    ],
)
def test_unknown_target_is_an_error_and_ends_nothing(signed_in, flag, value, message):
    with pytest.raises(CommandError, match=message):
        _run(flag, value)
    assert _alive(signed_in["alice_here"])


def test_exactly_one_target_is_required():
    with pytest.raises(CommandError):
        call_command("revoke_sessions")
    with pytest.raises(CommandError):
        call_command("revoke_sessions", "--user", "a@example.test", "--tenant", "x")


def test_unknown_target_exits_1_with_a_message_from_the_command_line(capsys):
    from apps.identity.management.commands.revoke_sessions import Command

    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "revoke_sessions", "--tenant", "no-such-tenant"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "unknown tenant slug: 'no-such-tenant'" in err
    assert "Traceback" not in err
