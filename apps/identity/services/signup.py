"""Self sign-up's rules, shared by every way in: the form and `auth/register/` (`accounts.user_register`)
and a social sign-up (`social.social_sign_in`).

- Only a portal whose policy is `open`, of an active tenant (`signup_portal`).
- The tenant's seat limit first, then the address: an address that has an
  account — or looks like one that has (`address_account`) — never gets a
  second one (`signup_account`).
- A new account holds no usable password; its address counts as proved only
  when the caller proved it (a provider asserting `email_verified`), otherwise
  the verification link is mailed and the account cannot sign in until it is
  followed (`signup_member_add`; the pre-hijack rules of `services.proof`).
- It becomes a `member` of the portal's tenant, audited `auth.register` with
  the `method` (`password` or `social`).
"""

from __future__ import annotations

import unicodedata

from django.db import IntegrityError, transaction

from apps.common.exceptions import PermissionDenied
from apps.identity.jobs import email_verify_mail_job
from apps.identity.models import Membership, Portal, Tenant, User, canonical_email
from apps.identity.plugs import domain_event
from apps.identity.selectors.portals import portal_get_public
from apps.identity.services.audit import audit_record
from apps.identity.services.seats import seat_require
from apps.identity.services.tenants import system_role, tenant_lock


def signup_portal(*, portal_slug: str) -> Portal:
    """The portal a self sign-up joins: 404 unknown or inactive; 403 its policy is not `open` or its tenant is
    suspended. Every way to sign up asks this (the form, `auth/register/`, a social sign-up)."""
    portal = portal_get_public(slug=portal_slug)
    if portal.signup_policy != Portal.SignupPolicy.OPEN:
        raise PermissionDenied("This portal does not accept sign-ups.")
    if portal.tenant.status != Tenant.Status.ACTIVE:
        raise PermissionDenied("This organisation is suspended.")
    return portal


def _skeleton(email: str) -> str:
    """The address with marks and case folded away: `adm\\u0131n@`, `ADM\\u0130N@` and `admin@` alike."""
    text = unicodedata.normalize("NFKD", canonical_email(email))
    return "".join(c for c in text if not unicodedata.combining(c)).replace("\u0131", "i").casefold()


def address_account(*, email: str) -> User | None:
    """The account an address names, as lookup finds it (`by_email`), or one it only looks like.

    A sign-up never makes a second account whose address a database's case folding could confuse with one
    that exists (the dotless i, a combining mark): the existing one counts as the address's account.
    """
    found = User.objects.by_email(email).first()
    return found or User.objects.filter(email__iexact=_skeleton(email)).first()


def signup_account(*, portal: Portal, email: str, name: str, email_verified: bool = False) -> tuple[User, bool]:
    """In the portal's tenant context: the seat limit (409), then the address's account (False) or a new one
    (True) holding no usable password. A new account counts as proved only when `email_verified`."""
    seat_require(tenant=tenant_lock(tenant_id=portal.tenant_id), public=True)
    existing = address_account(email=email)
    if existing is not None:
        return existing, False
    user = User(email=email, name=name, email_verified=email_verified)
    user.set_unusable_password()  # a password comes with proof of the address (PendingSignup, a reset)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same address signed up a moment ago
        return User.objects.by_email(email).get(), False
    return user, True


def signup_member_add(*, portal: Portal, user: User, method: str, ip: str | None) -> None:
    """The new account becomes a `member` of the portal's tenant; an unproved address is mailed its link."""
    Membership.objects.create(user=user, role=system_role("member"))
    domain_event(
        tenant=portal.tenant, event="member.added", data={"user_id": str(user.id), "role": "member", "via": method}
    )
    if not user.email_verified:
        email_verify_mail_job.defer(tenant=portal.tenant, user_id=str(user.id), portal_slug=portal.slug)
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.register",
        target=("user", user.id),
        ip=ip,
        data={"portal": portal.slug, "role": "member", "method": method},
    )
