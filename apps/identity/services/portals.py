"""A tenant's portals: create and change them (`/api/v1/identity/portals/`).

The format of each field an admin may set is checked in
`services/portal_fields.py`; the reads (the list, the admin API's
`PortalView`) are in `selectors/portals.py`. This module holds the rules that
look beyond one portal's fields, and the audit trail of the changes.

Portals are a global table (resolved from the URL before any tenant is known),
so nothing here leans on a scoped manager: every query names the tenant
explicitly, and a slug of another tenant is simply not found.

Rules beyond the field formats:
- A slug is unique across every tenant's portals; a taken slug is a conflict
  that does not say whose it is. It cannot change later: it is in every
  `/portal/<slug>/` link already mailed and in the `portal` claim of live
  access tokens.
- The plan's portal limit (`plugs.portal_limit`) counts active portals; it is
  checked on create and when a portal is reactivated.
- The tenant's default portal cannot be deactivated (invitation links point at
  it), nor its last active one, and some active portal must admit owners, so
  no change here can lock the tenant's owners out of every portal.
- A change that takes access away ends the affected sessions of that portal at
  once instead of at the next refresh: deactivation ends all of them, dropping
  a role from `admitted_roles` ends those of members holding it, requiring MFA
  ends those that signed in without it.

Admin changes to one tenant's portals are serialised by the tenant lock
(`services.tenants.tenant_lock`), so two concurrent requests cannot both take
the last slot of the limit or both deactivate "the other" active portal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.exceptions import Conflict, NotFound
from apps.identity import plugs
from apps.identity.models import DEFAULT_THEME, AuthSession, Membership, Portal, Tenant, User
from apps.identity.services.audit import audit_record
from apps.identity.services.portal_fields import FieldErrors, PortalFields, portal_fields_clean
from apps.identity.services.sessions import sessions_end
from apps.identity.services.tenants import tenant_lock

OWNER: Final = "owner"


# --------------------------------------------------------------------------- guards


def _check_limit(tenant: Tenant) -> None:
    """One more active portal fits the plan; `tenant` is the row `tenant_lock` returned."""
    limit = plugs.portal_limit(tenant)
    if limit is None:
        return
    active = Portal.objects.filter(tenant_id=tenant.id, active=True).count()
    if active >= limit:
        raise Conflict(
            f"The plan allows {limit} active portal{'s' if limit != 1 else ''}; deactivate one or change the plan.",
            limit=limit,
        )


def _check_owners_keep_a_door(tenant: Tenant, portal: Portal) -> None:
    """After `portal`'s change: the default stays active, and some active portal admits owners."""
    if portal.is_default and not portal.active:
        raise Conflict("The default portal cannot be deactivated: invitation links point at it.")
    others = list(
        Portal.objects.filter(tenant_id=tenant.id, active=True)
        .exclude(id=portal.id)
        .values_list("admitted_roles", flat=True)
    )
    rows = [*others, portal.admitted_roles] if portal.active else others
    if not rows:
        raise Conflict("This is the tenant's last active portal; it cannot be deactivated.")
    if not any(OWNER in (roles or []) for roles in rows):
        raise Conflict("Some active portal must admit owners; this change would leave them none.")


@dataclass(frozen=True)
class _Access:
    """Who could use a portal, before a change."""

    active: bool
    admitted_roles: frozenset[str]
    mfa_required: bool

    @classmethod
    def of(cls, portal: Portal) -> _Access:
        return cls(portal.active, frozenset(portal.admitted_roles or []), portal.mfa_required)


def _end_sessions(portal: Portal, *, before: _Access) -> int:
    """End the portal's live sessions that this change took access from; how many ended."""
    deactivated = before.active and not portal.active
    dropped = before.admitted_roles - set(portal.admitted_roles or [])
    mfa_now_required = portal.mfa_required and not before.mfa_required
    if not (deactivated or dropped or mfa_now_required):
        return 0
    live = list(
        AuthSession.objects.filter(
            portal_id=portal.id, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).values_list("id", "user_id", "amr")
    )
    if not live:
        return 0
    if deactivated:
        ended = [sid for sid, _, _ in live]
    else:
        roles: dict[Any, str] = {}
        if dropped:
            roles = dict(
                Membership.objects.filter(
                    tenant_id=portal.tenant_id, user_id__in={user_id for _, user_id, _ in live}
                ).values_list("user_id", "role__code")
            )
        ended = [
            sid
            for sid, user_id, amr in live
            if roles.get(user_id) in dropped or (mfa_now_required and "otp" not in (amr or []))
        ]
    return len(sessions_end(sessions=AuthSession.objects.filter(id__in=ended), reason="portal_changed"))


# --------------------------------------------------------------------------- writing


@transaction.atomic
def portal_create(
    *,
    tenant: Tenant,
    actor: User,
    fields: PortalFields,
    rejected: Mapping[str, Sequence[str]] | None = None,
    ip: str | None = None,
) -> Portal:
    """A new portal of `tenant`. `slug` and `name` are required; the rest default like the model's.

    `rejected`: fields the caller could not parse, with why; they are left out
    of `fields` and reported in the same 400 as the problems found here.
    """
    errors = FieldErrors(rejected)
    for required in ("slug", "name"):
        if required not in fields and required not in errors.errors:
            errors.add(required, "This field is required.")
    values = portal_fields_clean(fields, tenant=tenant, current=None, errors=errors)
    errors.raise_if_any()
    values["theme"] = {**DEFAULT_THEME, **values.get("theme", {})}

    locked = tenant_lock(tenant_id=tenant.id)
    if values.get("active", True):
        _check_limit(locked)
    taken = f"The slug {values['slug']!r} is already taken."
    # Any tenant's portal: the answer is the same whoever holds it.
    if Portal.objects.filter(slug=values["slug"]).exists():
        raise Conflict(taken)
    try:
        with transaction.atomic():
            portal = Portal.objects.create(tenant=tenant, is_default=False, **values)
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict(taken) from exc
    audit_record(
        tenant=tenant,
        actor=actor,
        action="portal.created",
        target=portal,
        ip=ip,
        data={"slug": portal.slug, "fields": _audit_values(portal, values.keys())},
    )
    return portal


@dataclass(frozen=True)
class PortalChange:
    """What `portal_change` did: the portal as saved, the fields that changed, the sessions it ended."""

    portal: Portal
    changed: tuple[str, ...]
    sessions_ended: int


def portal_update(
    *,
    tenant: Tenant,
    actor: User,
    slug: str,
    fields: PortalFields,
    rejected: Mapping[str, Sequence[str]] | None = None,
    ip: str | None = None,
) -> Portal:
    """Change some of a portal's settings (`portal_change`); the portal as saved."""
    return portal_change(tenant=tenant, actor=actor, slug=slug, fields=fields, rejected=rejected, ip=ip).portal


@transaction.atomic
def portal_change(
    *,
    tenant: Tenant,
    actor: User,
    slug: str,
    fields: PortalFields,
    rejected: Mapping[str, Sequence[str]] | None = None,
    ip: str | None = None,
) -> PortalChange:
    """Change some of a portal's settings. A slug of another tenant (or none) is NotFound.

    `rejected` as for `portal_create`. The portal pages tell the admin what
    changed and how many sessions ended, hence the `PortalChange`.
    """
    locked = tenant_lock(tenant_id=tenant.id)
    portal = Portal.objects.select_for_update().filter(tenant_id=tenant.id, slug=slug).first()
    if portal is None:
        raise NotFound("No portal with this slug.")
    errors = FieldErrors(rejected)
    values = portal_fields_clean(fields, tenant=tenant, current=portal, errors=errors)
    if "slug" in values and values["slug"] != portal.slug:
        errors.errors.pop("slug", None)
        errors.add("slug", "A portal's slug cannot be changed: links and signed-in sessions use it.")
    values.pop("slug", None)
    errors.raise_if_any()

    access = _Access.of(portal)
    before = {field: getattr(portal, field) for field in values}
    changed = [field for field, value in values.items() if before[field] != value]
    if not changed:
        return PortalChange(portal=portal, changed=(), sessions_ended=0)
    if "active" in changed and portal.active is False:
        _check_limit(locked)  # reactivation takes a slot
    for field in changed:
        setattr(portal, field, values[field])
    if {"active", "admitted_roles"} & set(changed):
        _check_owners_keep_a_door(tenant, portal)
    portal.save(update_fields=[*changed, "updated_at"])
    sessions_ended = _end_sessions(portal, before=access)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="portal.updated",
        target=portal,
        ip=ip,
        data={
            "slug": portal.slug,
            "changes": {
                field: {"from": _audit_value(field, before[field]), "to": _audit_value(field, values[field])}
                for field in changed
            },
            "sessions_ended": sessions_ended,
        },
    )
    return PortalChange(portal=portal, changed=tuple(changed), sessions_ended=sessions_ended)


def _audit_value(field: str, value: Any) -> Any:
    if field == "features" and isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, bool)}
    return value


def _audit_values(portal: Portal, fields: Iterable[str]) -> dict[str, Any]:
    return {field: _audit_value(field, getattr(portal, field)) for field in fields if field != "slug"}
