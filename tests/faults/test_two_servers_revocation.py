"""Revocations made through one server, honoured by another (docs/security.md, "Faults: nothing lost").

apps/identity/tests/test_two_processes.py covers logout, lockout, throttle and
an RBAC change across two servers; this adds the revocations: a member removed
and a session revoked through A (this process) are refused by B (a real
gunicorn on the same database and Redis, its `server_b` fixture) at the next
request, access and refresh tokens alike.
"""

from __future__ import annotations

import pytest

from apps.common.tenancy import tenant_context
from apps.identity.models import Membership
from apps.identity.tests.test_two_processes import ME, MEMBERS, REFRESH, real_hashers, server_b

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

__all__ = ["real_hashers", "server_b"]  # fixtures, used by name

SESSIONS = "/api/v1/identity/auth/sessions/"


def test_a_revoked_session_and_a_removed_member_through_a_are_refused_by_b(
    server_b, api, api_client, login, member, portal, tenant
):
    """One server start for both revocations (gunicorn takes seconds to boot)."""
    owner, user = member("owner"), member()
    revoked, kept = login(user, portal), login(user, portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {kept['access']}")
    [target] = [row for row in api.get(SESSIONS).json()["results"] if not row["current"]]
    assert server_b.call("GET", ME, token=revoked["access"])[0] == 200

    # A session revoked through A: B refuses its access and refresh tokens; the other session lives on.
    assert api.delete(f"{SESSIONS}{target['id']}/").status_code == 204
    assert server_b.call("GET", ME, token=revoked["access"])[0] == 401
    assert server_b.call("POST", REFRESH, {"refresh": revoked["refresh"]})[0] == 401
    assert server_b.call("GET", ME, token=kept["access"])[0] == 200

    # The member removed through A: B refuses the remaining session too.
    with tenant_context(tenant):
        membership = Membership.objects.get(user=user)
    removed = api_client(owner, portal).delete(f"{MEMBERS}{membership.id}/")
    assert removed.status_code == 204, removed.content
    status, _, problem = server_b.call("GET", ME, token=kept["access"])
    assert status in (401, 403), problem
    assert server_b.call("POST", REFRESH, {"refresh": kept["refresh"]})[0] == 401
