"""Social sign-in: a provider's identity, linked to one account, entering a portal the way a password does.

django-allauth proves *who the provider says this is* (state, PKCE, the code
exchange, the ID token: `apps.identity.social.adapter`); this module decides
what that is worth. Links are allauth's `SocialAccount` rows (provider, uid →
user), made only here.

- **Sign-in** (`social_sign_in`): a linked identity signs in to the account it
  is linked to, and to nothing else. The lockout guard runs first (a locked
  client or account is refused, as for a password); an unproved account (a
  social sign-up whose address is not verified yet) is refused like a password
  sign-up waiting for its link; then `signin.portal_admit` — membership, the
  portal's roles, the second factor — exactly as after a password, with amr
  `social` (`social` + `otp` after the code step).
- **No takeover**: an unlinked identity whose e-mail belongs to an account —
  in any case or compatibility form, or one a database could fold into it
  (`signup.address_account`) — signs in to nothing, even when the provider
  says the address is verified (`SocialNotLinked`): the person signs in with
  their password and links the identity from the security page.
- **Sign-up**: an unlinked identity with an unknown e-mail makes an account
  only where the portal's policy is `open`, by the rules of every sign-up
  (`services.signup`): a `member` of the portal's tenant, the seat limit, and
  the address proved only if the provider asserts `email_verified` — otherwise
  the verification link is mailed and the link works once it is followed.
- **Linking** (`social_link`) is done by the signed-in account holder; an
  identity linked to another account is refused. **Unlinking**
  (`social_unlink`) never leaves an account without a way in: the last link of
  an account with no usable password stays.

Audit: `auth.social_linked` / `auth.social_unlinked` (the account's events, in
every stream that answers for it); a sign-in's `auth.login` carries amr
`social`; refusals are `auth.login_denied` with the reason, the method and the
provider.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from allauth.socialaccount.models import SocialAccount
from django.db import IntegrityError, transaction

from apps.common.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.common.tenancy import tenant_context
from apps.identity.exceptions import EmailUnverified
from apps.identity.models import Portal, Tenant, User, canonical_email
from apps.identity.selectors.portals import portal_get_public
from apps.identity.services import lockout, signin
from apps.identity.services.audit import audit_record, audit_record_user_event
from apps.identity.services.mfa import MfaChallenge
from apps.identity.services.sessions import ClientInfo
from apps.identity.services.signup import address_account, signup_account, signup_member_add, signup_portal
from apps.identity.social_providers import provider_label

AMR: Final = ("social",)
# What a provider may hand over, cut to what the columns hold (User.email, User.name). allauth itself
# refuses a uid longer than its column (SOCIALACCOUNT_UID_MAX_LENGTH), so none is ever cut (two would collide).
_EMAIL_MAX: Final = 254
_NAME_MAX: Final = 150


class SocialNotLinked(PermissionDenied):
    """An unlinked identity whose e-mail has an account: no sign-in, no new account; link it first."""

    code = "social_not_linked"


class SocialSignupClosed(PermissionDenied):
    """An unlinked identity with an unknown e-mail, on a portal that does not take sign-ups."""

    code = "social_signup_closed"


class SocialNoEmail(ApplicationError):
    """An unlinked identity the provider gave no usable e-mail for: nothing to make an account with."""

    status = 400
    code = "social_no_email"


@dataclass(frozen=True)
class SocialIdentity:
    """Who the provider says this is, after allauth checked the exchange; `display` is what pages show."""

    provider: str
    uid: str
    email: str = ""
    email_verified: bool = False
    name: str = ""
    display: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SocialIdentity | None:
        """The identity `as_dict` stored, or None for anything else (a stale or foreign session entry)."""
        if not isinstance(data, dict):
            return None
        text = ("provider", "uid", "email", "name", "display")
        if not all(isinstance(data.get(key, ""), str) for key in text) or not isinstance(
            data.get("email_verified", False), bool
        ):
            return None
        identity = cls(**{key: data[key] for key in (*text, "email_verified") if key in data})
        return identity if identity.provider and identity.uid else None

    def cleaned(self) -> SocialIdentity:
        email = canonical_email(self.email)
        return SocialIdentity(
            provider=self.provider,
            uid=self.uid,
            email=email if 0 < len(email) <= _EMAIL_MAX and "@" in email else "",
            email_verified=self.email_verified,
            name=self.name.strip().replace("\x00", "")[:_NAME_MAX],
            display=self.display[:_EMAIL_MAX],
        )


@dataclass(frozen=True)
class SignedUp:
    """A social sign-up whose address is not proved yet: the account waits for its verification link."""

    user: User
    portal: Portal


def _link_of(identity: SocialIdentity) -> SocialAccount | None:
    return SocialAccount.objects.select_related("user").filter(provider=identity.provider, uid=identity.uid).first()


def _link_create(*, user: User, identity: SocialIdentity) -> SocialAccount:
    extra = {"email": identity.email, "name": identity.name, "display": identity.display}
    link: SocialAccount = SocialAccount.objects.create(
        user=user, provider=identity.provider, uid=identity.uid, extra_data=extra
    )
    return link


# --------------------------------------------------------------------------- sign-in and sign-up


def _refused(
    *, portal: Portal, account: User | None, identity: SocialIdentity, client: ClientInfo, reason: str
) -> None:
    signin.sign_in_refused(
        portal=portal,
        account=account,
        client=client,
        action="auth.login_denied",
        reason=reason,
        data={"method": "social", "provider": identity.provider},
    )


def social_sign_in(
    *, identity: SocialIdentity, portal_slug: str, client: ClientInfo
) -> signin.Admitted | MfaChallenge | SignedUp:
    """Sign in to `portal_slug` with a provider's identity (see the module docstring for every rule).

    403 `social_not_linked`, `social_signup_closed`, `email_unverified` or the admission's refusal; 400
    `social_no_email`; 409 the tenant's seat limit; 429 locked. Refusals are audited durably.
    """
    portal = portal_get_public(slug=portal_slug)
    identity = identity.cleaned()
    link = _link_of(identity)
    account: User | None = link.user if link is not None else None
    lockout.login_guard(
        email=account.email if account else identity.email, ip=client.ip, user=account, device=client.device
    )
    if account is not None:
        reason = "inactive" if not account.is_active else "email_unverified" if not account.email_verified else ""
        if reason:
            _refused(portal=portal, account=account, identity=identity, client=client, reason=reason)
            if reason == "inactive":
                raise PermissionDenied("This account can no longer sign in.")
            raise EmailUnverified("Confirm your e-mail address first: follow the link we mailed you.")
        lockout.login_succeeded(email=account.email, ip=client.ip, user=account)
        return signin.portal_admit(user=account, portal=portal, client=client, amr=AMR)
    taken = address_account(email=identity.email) if identity.email else None
    if taken is not None:
        _refused(portal=portal, account=taken, identity=identity, client=client, reason="social_not_linked")
        raise SocialNotLinked(
            f"An account with this e-mail address exists. Sign in with its password, then link "
            f"{provider_label(identity.provider)} from your security page."
        )
    return _sign_up(identity=identity, portal=portal, client=client)


def _sign_up(
    *, identity: SocialIdentity, portal: Portal, client: ClientInfo
) -> signin.Admitted | MfaChallenge | SignedUp:
    label = provider_label(identity.provider)
    try:
        portal = signup_portal(portal_slug=portal.slug)
    except PermissionDenied as exc:
        _refused(portal=portal, account=None, identity=identity, client=client, reason="signup_closed")
        raise SocialSignupClosed(
            f"No account here uses this {label} identity, and {portal.name} does not accept sign-ups: "
            "ask an administrator for an invitation."
        ) from exc
    if not identity.email:
        _refused(portal=portal, account=None, identity=identity, client=client, reason="no_email")
        raise SocialNoEmail(f"{label} did not share an e-mail address, so no account can be made with it.")
    with transaction.atomic(), tenant_context(portal.tenant):
        user, created = signup_account(
            portal=portal, email=identity.email, name=identity.name, email_verified=identity.email_verified
        )
        if not created:  # the address signed up a moment ago
            raise SocialNotLinked("An account with this e-mail address exists. Sign in with its password first.")
        _link_create(user=user, identity=identity)
        signup_member_add(portal=portal, user=user, method="social", ip=client.ip)
        audit_record(
            tenant=portal.tenant,
            actor=user,
            action="auth.social_linked",
            target=("user", user.id),
            ip=client.ip,
            data={"provider": identity.provider, "portal": portal.slug, "via": "signup"},
        )
    if not user.email_verified:
        return SignedUp(user=user, portal=portal)
    return signin.portal_admit(user=user, portal=portal, client=client, amr=AMR)


# --------------------------------------------------------------------------- linking


def social_link(*, user: User, identity: SocialIdentity, ip: str | None, tenant: Tenant | None = None) -> bool:
    """Link `identity` to the signed-in `user`; False when it already was.

    409 when it is linked to another account (audited durably), or when `user` has another identity of
    this provider linked (unlink that one first).
    """
    identity = identity.cleaned()
    label = provider_label(identity.provider)
    taken = Conflict(f"This {label} account is already linked to another account.")
    existing = _link_of(identity)
    if existing is not None and existing.user_id != user.id:
        audit_record(
            tenant=tenant,
            actor=user,
            action="auth.social_link_denied",
            target=("user", user.id),
            ip=ip,
            data={"provider": identity.provider, "reason": "linked_to_another_account"},
            durable=True,
        )
        raise taken
    if existing is not None:
        return False
    with transaction.atomic():
        User.objects.select_for_update().get(id=user.id)  # one link change of this user at a time
        if SocialAccount.objects.filter(user=user, provider=identity.provider).exists():
            raise Conflict(f"Another {label} account is linked already: unlink it first.")
        try:
            with transaction.atomic():
                _link_create(user=user, identity=identity)
        except IntegrityError as exc:  # linked to someone a moment ago
            raise taken from exc
        audit_record_user_event(
            user=user, action="auth.social_linked", ip=ip, tenant=tenant, data={"provider": identity.provider}
        )
    return True


@transaction.atomic
def social_unlink(*, user: User, link_id: int, ip: str | None, tenant: Tenant | None = None) -> str:
    """Remove one of `user`'s links; the provider it was for. 404 not theirs; 409 it is their only way in."""
    locked = User.objects.select_for_update().get(id=user.id)  # two unlinks at once cannot both pass the check
    link: SocialAccount | None = SocialAccount.objects.filter(id=link_id, user=locked).first()
    if link is None:
        raise NotFound("No such linked sign-in.")
    others = SocialAccount.objects.filter(user=locked).exclude(id=link.id).exists()
    if not others and not locked.has_usable_password():
        raise Conflict(
            "This is your only way to sign in. Set a password first (use “Forgot your password?” on the "
            "sign-in page), then unlink it."
        )
    provider = str(link.provider)
    link.delete()
    audit_record_user_event(
        user=locked, action="auth.social_unlinked", ip=ip, tenant=tenant, data={"provider": provider}
    )
    return provider
