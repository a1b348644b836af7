"""Password sign-in: who is signing in, and whether they may — not what they get.

`sign_in` runs the lockout guard, the password check, the audit of refusals
and portal admission, and answers with the admitted membership or the second
factor's challenge. What the caller then starts — an API session with tokens
or a browser session — is `services.sessions`'.

`portal_admit` is the half after "who is it": membership, the portal's roles
and the second factor owed. The password path ends in it, and so does a
social sign-in (`services.social`), so neither can skip the second factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.utils import timezone

from apps.common.exceptions import PermissionDenied
from apps.identity.exceptions import EmailUnverified, InvalidCredentials
from apps.identity.models import Membership, PendingSignup, Portal, User, canonical_email
from apps.identity.selectors.admission import admitted_membership
from apps.identity.selectors.portals import portal_get_public
from apps.identity.services import lockout, mfa
from apps.identity.services.audit import audit_record
from apps.identity.services.mfa import MfaChallenge
from apps.identity.services.sessions import ClientInfo

# Verifying against this hash costs what verifying a real one costs: an unknown
# e-mail takes as long as a wrong password (no enumeration by timing). It is made
# once per hasher, so the unknown-e-mail path runs exactly one hash, like the others.
_DUMMY_PASSWORD = "atrium-no-such-user"  # noqa: S105 - not a credential
_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    algorithm = str(get_hasher().algorithm)
    if algorithm not in _dummy_hashes:
        _dummy_hashes[algorithm] = make_password(_DUMMY_PASSWORD)
    return _dummy_hashes[algorithm]


@dataclass(frozen=True)
class Admitted:
    """A sign-in that needs nothing more: start a session for this membership, with `amr` (how they proved it)."""

    user: User
    membership: Membership
    portal: Portal
    amr: tuple[str, ...] = ("pwd",)


def authenticate_password(*, user: User | None, email: str, password: str) -> User:
    """`user` (the account `email` resolved to) if `password` is its password; else why not.

    Exactly one password hash on every path where nobody signed up unproved,
    two where someone did (known and new address alike), so neither the answer
    nor its time tells whether the address had an account:

    - the account's own hash is verified (a dummy when there is no account or
      it has no usable password);
    - if that fails and an unexpired sign-up for the address holds a password,
      that is verified too: a match is 403 `email_unverified`, the same answer
      a new account gets, also when the sign-up was for an address that already
      had an account (so register-then-login is no existence oracle);
    - everything else is the same 401.
    """
    if user is not None and user.has_usable_password():
        if user.check_password(password) and user.is_active:  # (upgrades an outdated hash)
            return user
    else:
        check_password(password, _dummy_hash())
    pending = (
        PendingSignup.objects.filter(email__iexact=canonical_email(email), expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )
    if pending is not None and check_password(password, pending.password):
        raise EmailUnverified("Confirm your e-mail address first: follow the link we mailed you.")
    raise InvalidCredentials("The e-mail or password is wrong.")


def sign_in_refused(
    *,
    portal: Portal,
    account: User | None,
    client: ClientInfo,
    action: str,
    reason: str,
    actor: User | None = None,
    data: dict[str, str] | None = None,
) -> None:
    """Audit a refused sign-in to `portal`, durably: it must outlive the request's rollback.

    The account is the target, never what was typed or asserted.
    """
    audit_record(
        tenant=portal.tenant,
        actor=actor,
        action=action,
        target=("user", account.id) if account is not None else None,
        ip=client.ip,
        data={"portal": portal.slug, "reason": reason, **(data or {})},
        durable=True,
    )


def portal_admit(
    *, user: User, portal: Portal, client: ClientInfo, amr: tuple[str, ...] = ("pwd",)
) -> Admitted | MfaChallenge:
    """Admit a user whose identity is established (`amr`: how) to `portal`: 403 (audited) for a membership the
    portal does not admit, a second factor's challenge when one is owed, else `Admitted`."""
    try:
        membership = admitted_membership(user=user, portal=portal)
    except PermissionDenied as exc:
        sign_in_refused(
            portal=portal, account=user, client=client, action="auth.login_denied", reason=exc.detail, actor=user
        )
        raise
    challenge = mfa.login_challenge(user=user, membership=membership, portal=portal, first_factor=amr[0])
    if challenge is not None:
        return challenge
    return Admitted(user=user, membership=membership, portal=portal, amr=amr)


def sign_in(*, email: str, password: str, portal_slug: str, client: ClientInfo) -> Admitted | MfaChallenge:
    """Password sign-in to one portal. Failures are audited durably (they outlive the request).

    Order matters: a locked pair is refused before the password is looked at,
    and a user with (or owing) a second factor gets a challenge, never admission.
    """
    portal = portal_get_public(slug=portal_slug)
    account = User.objects.by_email(email).first()

    def refused(action: str, reason: str) -> None:
        sign_in_refused(portal=portal, account=account, client=client, action=action, reason=reason)

    lockout.login_guard(email=email, ip=client.ip, user=account, device=client.device)
    try:
        user = authenticate_password(user=account, email=email, password=password)
    except InvalidCredentials:
        lockout.login_failed(email=email, ip=client.ip, user=account)
        refused("auth.login_failed", "bad_credentials")
        raise
    except EmailUnverified:
        refused("auth.login_denied", "email_unverified")
        raise
    lockout.login_succeeded(email=email, ip=client.ip, user=user)
    return portal_admit(user=user, portal=portal, client=client)
