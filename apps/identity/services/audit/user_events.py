"""Events about a user's own account, fanned out to every stream whose admins answer for that account.

The account is global (one password and one authenticator for every tenant the
user belongs to), so a tenant admin answering "who turned off MFA?" or "when
did this member last change their password?" needs the event in *their*
stream; the platform stream gets it too, for operators. The decision: the
platform stream plus every tenant where the user has an active membership (of
a tenant not offboarded), plus the acting session's tenant when there is one.
Not only the session's tenant: a member of two tenants who changes their
password from one has changed it for the other, whose admin must see it as
well; and a password reset has no session at all. Suspended members and
offboarded tenants are left out — their admins no longer vouch for the
account. Each copy is its own link in its own chain (same action, actor,
target `("user", id)` and data); the streams are written platform first, then
tenants by id, so two writers always lock heads in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.identity.models import Tenant, User
from apps.identity.selectors import user_audit_tenants
from apps.identity.services.audit.chain import AnyAuditEvent
from apps.identity.services.audit.draft import _normalize_data
from apps.identity.services.audit.record import audit_record
from apps.identity.services.audit.redaction import audit_data_redacted


def audit_record_user_event(
    *,
    user: User,
    action: str,
    ip: str | None = None,
    data: Mapping[str, Any] | None = None,
    tenant: Tenant | None = None,
    durable: bool = False,
) -> list[AnyAuditEvent]:
    """Record an event of `user`'s own account in the platform stream and in each of their tenants' streams.

    The user is both actor and target (`("user", id)`). The tenants are those
    of the user's active memberships (see the module docstring) plus `tenant`,
    the acting session's tenant, if given. `data` is redacted before it is
    stored: a password, token, code or secret put there by mistake is never
    written. Returns the events written, the platform one first.

    Callers: MFA enrolment, disabling, new backup codes and the MFA lock
    (`services/mfa.py`); password reset and change (`services/accounts.py`).
    `durable` is as for `audit_record`, applied to every copy.
    """
    clean = audit_data_redacted(action=action, data=_normalize_data(data))
    tenants = {t.id: t for t in user_audit_tenants(user=user)}
    if tenant is not None and tenant.status != Tenant.Status.OFFBOARDED:
        tenants.setdefault(tenant.id, tenant)
    events = [audit_record(actor=user, action=action, target=("user", user.id), ip=ip, data=clean, durable=durable)]
    for tenant_id in sorted(tenants, key=str):
        events.append(
            audit_record(
                tenant=tenants[tenant_id],
                actor=user,
                action=action,
                target=("user", user.id),
                ip=ip,
                data=clean,
                durable=durable,
            )
        )
    return events
