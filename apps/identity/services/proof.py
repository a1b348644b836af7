"""Proof of a mailbox, and what it takes away from an account that never had one.

An account whose address was never proved (a self sign-up not yet verified, an
owner created by `create_tenant` who has not set a password yet) may have
been made by anyone for anyone's address. The flows that prove the address
(accepting an invitation, a password reset link) or vouch for it on an
operator's word (`create_tenant`) must not hand that account's credentials
(a password, a linked social identity), second factor or sessions to the
person who owns the mailbox: they call
`unproved_account_reset` first, under the user's row lock, and only then give
the account what the proof grants (a password, a membership, a verified
address).
"""

from __future__ import annotations

from allauth.socialaccount.models import SocialAccount
from django.db import transaction
from django.db.models import Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.identity.models import BackupCode, PendingSignup, User
from apps.identity.services.audit import audit_record
from apps.identity.services.sessions import sessions_revoke_user


@transaction.atomic
def unproved_account_reset(*, user: User, via: str, ip: str | None = None) -> bool:
    """Strip an unproved account of everything it held; True if it was unproved.

    Its password (and any password waiting for verification), its linked
    social identities, its second factor and every session go; the audit
    names the flow (`via`) that proved or vouched for the address. A proved
    account is left alone (False).
    """
    if user.email_verified:
        return False
    PendingSignup.objects.filter(Q(user=user) | Q(email__iexact=user.email)).delete()
    TOTPDevice.objects.filter(user=user).delete()
    BackupCode.objects.filter(user=user).delete()
    _, deleted = SocialAccount.objects.filter(user=user).delete()
    links = deleted.get(SocialAccount._meta.label, 0)
    user.set_unusable_password()
    user.save(update_fields=["password", "updated_at"])
    ended = sessions_revoke_user(user=user, reason=via, ip=ip)
    audit_record(
        action="auth.unproved_account_reset",
        target=("user", user.id),
        ip=ip,
        data={"via": via, "sessions_ended": ended, **({"social_links_removed": links} if links else {})},
    )
    return True
