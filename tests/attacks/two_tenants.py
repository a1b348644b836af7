"""Two tenants, each holding one row of every kind an id or code in a URL or a body can name.

Not a test module: `test_cross_tenant_*.py` import it. Tenant A (`tenant`, portal
`acme-test`) is the attacker's; tenant B (`other_tenant`, portal `globex-test`) the
victim's. `b_state()` re-reads every row of B inside B's tenant context, so a test
compares B before and after an attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.socialaccount.models import SocialAccount
from django.test import Client

from apps.common.tenancy import tenant_context
from apps.files.models import File
from apps.flows.models import FlowDefinition, Step, StepCompletion
from apps.flows.services import onboarding_seed
from apps.identity.models import ApiKey, AuditEvent, AuthSession, Invitation, Membership, Portal, Role, Tenant
from apps.identity.services.invitations import invitation_create
from apps.identity.tests.api_keys_support import make_key
from apps.identity.tests.factories import PASSWORD, PortalFactory
from apps.identity.tests.members_roles_support import custom_role
from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.portals.tests.files_support import stored
from apps.portals.tests.webhooks_support import bulk_deliveries, make_endpoint

B_ROLE = "b-only"
B_STEP = "b-only-step"
B_INVITEE = "b-invitee@example.test"
A_PORTAL = "acme-test"
B_PORTAL = "globex-test"


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    portal_a: Portal
    portal_b: Portal
    owner_a: Any
    member_a: Any
    owner_b: Any
    member_b: Any
    ids: dict[str, str]  # what B holds, by name: the values an attacker puts in a URL or a body


def build(*, tenant: Any, other_tenant: Any, portal: Any, member: Any, login: Any) -> World:
    """B gets a member, a custom role, an invitation, a file, an endpoint with a delivery, an API key,
    a session, a social link and a step of its own; A gets an owner and a member."""
    tenant_a, tenant_b = Tenant.objects.get(id=tenant.id), Tenant.objects.get(id=other_tenant.id)
    portal_b = PortalFactory(tenant=tenant_b, slug=B_PORTAL, name="Globex", is_default=True)
    owner_a, member_a = member("owner"), member("member")
    owner_b, member_b = member("owner", of=tenant_b), member("member", of=tenant_b)
    custom_role(tenant_b, B_ROLE, ["identity.view_member"], name="B only")
    login(member_b, portal_b)  # a live session of B's member
    with tenant_context(tenant_b):
        invitation = invitation_create(tenant=tenant_b, actor=owner_b, email=B_INVITEE, role="member")
        onboarding_seed(tenant=tenant_b)
        flow = FlowDefinition.objects.get(code="onboarding", portal__isnull=True)
        Step.objects.create(tenant=tenant_b, flow=flow, code=B_STEP, title="B's own step", order=99)
        membership_b = Membership.objects.get(user=member_b)
    file_b = stored(tenant_b, owner_b, name="b-secret.txt", content=b"tenant B only\n")
    endpoint_b = make_endpoint(tenant_b, owner_b, "http://127.0.0.1:9/b")
    bulk_deliveries(tenant_b, endpoint_b, 1)
    key_b, _ = make_key(tenant_b, owner_b, role="member", name="B key")
    link_b = SocialAccount.objects.create(user=member_b, provider="oidc", uid="b-sub", extra_data={})
    with tenant_context(tenant_b):
        delivery_b = WebhookDelivery.objects.get(endpoint=endpoint_b)
    session_b = AuthSession.objects.filter(user=member_b).latest("created_at")
    ids = {
        "membership": str(membership_b.id),
        "role": B_ROLE,
        "invitation": str(invitation.id),
        "file": str(file_b.id),
        "endpoint": str(endpoint_b.id),
        "delivery": str(delivery_b.id),
        "api_key": str(key_b.id),
        "session": str(session_b.id),
        "social_link": str(link_b.id),
        "step": B_STEP,
        "portal": B_PORTAL,
    }
    return World(tenant_a, tenant_b, portal, portal_b, owner_a, member_a, owner_b, member_b, ids)


def b_state(world: World) -> dict[str, Any]:
    """Every row of B an attack could touch, as B itself reads it."""
    b = world.tenant_b
    with tenant_context(b):
        return {
            "memberships": sorted(Membership.objects.values_list("id", "role__code")),
            "roles": sorted(Role.objects.filter(tenant=b).values_list("code", "name", "permissions")),
            "invitations": sorted(Invitation.objects.values_list("id", "status", "role_code")),
            "files": sorted(File.objects.values_list("id", "name", "size")),
            "endpoints": sorted(
                WebhookEndpoint.objects.values_list("id", "url", "active", "secret_encrypted", "description")
            ),
            "deliveries": sorted(WebhookDelivery.objects.values_list("id", "status", "attempts")),
            "api_keys": sorted(ApiKey.objects.values_list("id", "revoked_at", "role_code")),
            "completions": StepCompletion.objects.count(),
            "audit": AuditEvent.objects.count(),
            "portal": list(Portal.objects.filter(tenant=b).values_list("slug", "name", "active", "signup_policy")),
            "sessions": sorted(
                AuthSession.objects.filter(tenant_id=b.id).values_list("id", "revoked_at", "revoke_reason")
            ),
            "social_links": sorted(SocialAccount.objects.filter(user=world.member_b).values_list("id", "uid")),
        }


def web_client(user: Any, portal: Any) -> Client:
    """A browser signed in to `portal` as `user` (CSRF checks off: an attacker has their own token anyway)."""
    client = Client()
    response = client.post(f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert client.get(f"/portal/{portal.slug}/dashboard/").status_code == 200
    return client
