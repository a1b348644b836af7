"""Tenants: creating one (a few inserts and the "tenant created" hooks, in one
transaction), and `tenant_lock`, the one lock every administrative write of a
tenant takes first."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from uuid import UUID, uuid4

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.exceptions import ApplicationError, Conflict, NotFound
from apps.common.tenancy import tenant_context, tenant_transaction
from apps.identity import plugs
from apps.identity.jobs import set_password_mail_job
from apps.identity.models import SYSTEM_ROLE_CODES, Membership, Portal, Role, Tenant, User
from apps.identity.principal import TenantRef
from apps.identity.services.audit import audit_record
from apps.identity.services.proof import unproved_account_reset
from apps.identity.services.seeding import rbac_seed
from apps.identity.services.sessions import sessions_end_tenant

logger = logging.getLogger("atrium.identity.tenants")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def tenant_lock(*, tenant_id: UUID | str) -> Tenant:
    """The tenant's row, locked until the transaction ends; 404 if there is none.

    Every write that depends on the tenant's state takes this lock first:
    member and role changes, invitations and their acceptance, sign-ups, portal
    changes, suspension. They run one after the other per tenant, so a seat or
    portal limit is checked against a count nobody else is changing, and two
    owners demoting each other cannot both succeed. `FOR NO KEY UPDATE` is
    enough for that (it conflicts with itself) and does not block inserts of
    rows referencing the tenant.
    """
    tenant = Tenant.objects.select_for_update(no_key=True).filter(id=tenant_id).first()
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


@dataclass(frozen=True)
class TenantCreated:
    tenant: Tenant
    portal: Portal
    owner: User
    owner_created: bool
    set_password_mailed: bool


def system_role(code: str) -> Role:
    """A system role, seeding the RBAC catalogue first if `seed_rbac` has not run yet.

    System roles are rows without a tenant, which the roles table's RLS policy
    lets every connection read: no escape is needed, so this works on the web
    and worker database role. Seeding writes them, which only the operator role
    may (`rbac_seed` raises `BypassUnavailable` elsewhere: run `seed_rbac`).
    """
    role = Role.all_roles.filter(tenant=None, code=code).first()
    if role is None:
        rbac_seed()
        role = Role.all_roles.get(tenant=None, code=code)
    return role


def validate_name(name: str) -> str:
    name = (name or "").strip()
    max_length = Tenant._meta.get_field("name").max_length or 200
    if not name or len(name) > max_length:
        raise ApplicationError(
            f"A name is 1-{max_length} characters.", errors={"name": [f"1-{max_length} characters, not blank"]}
        )
    return name


def validate_owner_email(email: str) -> str:
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError(
            f"{email!r} is not a valid e-mail address.", errors={"owner_email": list(exc.messages)}
        ) from exc
    return email


def validate_owner_password(password: str, *, email: str) -> None:
    """The same password policy as every other way a password is set (the settings' validators)."""
    try:
        validate_password(password, user=User(email=email))
    except ValidationError as exc:
        raise ApplicationError(
            "The owner password is too weak: " + " ".join(exc.messages), errors={"owner_password": list(exc.messages)}
        ) from exc


def validate_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ApplicationError(
            "A slug is 1-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen.",
            errors={"slug": ["invalid slug"]},
        )
    return slug


def tenant_create(
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    plan: str = "free",
    tier: str = Tenant.Tier.POOLED,
    notify_owner: bool = True,
) -> TenantCreated:
    """The tenant, its default portal (open to every system role), the owner's membership.

    Then the "tenant created" hooks (billing starts the subscription, flows seeds
    onboarding). A taken slug raises Conflict and writes nothing. One transaction, the new
    tenant's from its first statement (its id is chosen first).
    """
    slug = validate_slug(slug)
    name = validate_name(name)
    owner_email = validate_owner_email(owner_email)
    if owner_password:
        validate_owner_password(owner_password, email=owner_email)
    if not plugs.plan_known(plan):
        raise ApplicationError(f"Unknown plan {plan!r}; known plans: {', '.join(sorted(plugs.plans()))}.")
    if tier not in Tenant.Tier.values:
        raise ApplicationError(f"Unknown tier {tier!r}; use pooled or silo.")
    with tenant_transaction(TenantRef(id=uuid4(), slug=slug)) as new:
        return _create(new.id, slug, name, owner_email, owner_password, plan, tier, notify_owner)


def _create(
    tenant_id: UUID,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None,
    plan: str,
    tier: str,
    notify_owner: bool,
) -> TenantCreated:
    # A tenant slug is its default portal's slug too, and both are unique: a taken one fails an insert
    # (also when a concurrent create won the race), and the Conflict leaves the transaction, which rolls back.
    try:
        tenant = Tenant.objects.create(id=tenant_id, slug=slug, name=name, plan_code=plan, tier=tier)
        portal = Portal.objects.create(
            tenant=tenant, slug=slug, name=name, is_default=True, admitted_roles=list(SYSTEM_ROLE_CODES)
        )
    except IntegrityError as exc:
        raise Conflict(f"The slug {slug!r} is already taken.") from exc

    owner = User.objects.by_email(owner_email).select_for_update().first()
    owner_created = owner is None
    if owner is None:
        owner = User.objects.create_user(email=owner_email, password=owner_password or None)
    elif owner_password:
        raise Conflict(
            f"{owner.email} already has an account, and its password is not changed here. Run the command "
            "without --owner-password: the owner signs in with their own password (or resets it)."
        )
    else:
        # An account nobody proved the address of is not handed the tenant: it keeps nothing of its own,
        # and the owner is mailed a link to set a password (which proves the mailbox).
        unproved_account_reset(user=owner, via="create_tenant")

    owner_role = system_role("owner")
    mailed = False
    with tenant_context(tenant):  # the same tenant in the same transaction: the row itself, no statement
        Membership.objects.create(tenant=tenant, user=owner, role=owner_role)
        plugs.tenant_created(tenant)
        plugs.domain_event(
            tenant=tenant,
            event="member.added",
            data={"user_id": str(owner.id), "role": "owner", "via": "tenant_created"},
        )
        if notify_owner and not owner.has_usable_password():
            # The link is minted when the mail is sent: no token rests in the outbox.
            set_password_mail_job.defer(user_id=str(owner.id), portal_slug=portal.slug)
            mailed = True
    return TenantCreated(
        tenant=tenant, portal=portal, owner=owner, owner_created=owner_created, set_password_mailed=mailed
    )


# --------------------------------------------------------------------------- suspension


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, actor: User | None = None, ip: str | None = None, reason: str = "") -> int:
    """Suspend a tenant: sign-ins and refreshes are refused (403/401) and its access ends at the next request.

    Returns how many sessions ended. Suspending a suspended tenant ends any
    session left and changes nothing else.
    """
    locked = tenant_lock(tenant_id=tenant.id)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise NotFound("No such tenant.")
    was = locked.status
    if was != Tenant.Status.SUSPENDED:
        Tenant.objects.filter(id=tenant.id).update(status=Tenant.Status.SUSPENDED, updated_at=timezone.now())
    tenant.status = Tenant.Status.SUSPENDED
    ended = sessions_end_tenant(tenant=tenant, reason="tenant_suspended")
    if was != Tenant.Status.SUSPENDED:
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenant.suspended",
            target=("tenant", tenant.slug),
            ip=ip,
            data={"reason": reason[:200], "sessions_ended": len(ended)},
        )
    logger.info("tenant.suspend", extra={"tenant_slug": tenant.slug, "sessions_ended": len(ended)})
    return len(ended)


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant, actor: User | None = None, ip: str | None = None) -> bool:
    """Lift a suspension: sign-ins work again at once. Sessions ended by the suspension stay ended.

    True when the tenant was suspended. Offboarded tenants are not brought back (404).
    """
    locked = tenant_lock(tenant_id=tenant.id)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise NotFound("No such tenant.")
    if locked.status != Tenant.Status.SUSPENDED:
        return False
    Tenant.objects.filter(id=tenant.id).update(status=Tenant.Status.ACTIVE, updated_at=timezone.now())
    tenant.status = Tenant.Status.ACTIVE
    audit_record(tenant=tenant, actor=actor, action="tenant.reactivated", target=("tenant", tenant.slug), ip=ip)
    return True
