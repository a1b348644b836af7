"""Multi-factor sign-in: TOTP (django-otp), Atrium's own backup codes, and the `mfa_token`.

After a correct password, `login_challenge` decides whether tokens may be
issued now or an `mfa_token` must be answered first (docs/security.md, trap 5:
django-otp's verified state lives in Django sessions and never reaches a token
login, so the token endpoints enforce the second factor themselves):

- a user with a confirmed TOTP device gets `{"mfa_required": true, "mfa_token"}`
  and answers it at `auth/mfa/verify/` with a TOTP code or a backup code;
- a user without one, signing in to a portal that requires MFA, gets
  `{"mfa_setup_required": true, "mfa_token"}` — an *enrolment* token accepted
  only by `auth/mfa/totp/setup/` and `confirm/`, whose success starts the session.

The `mfa_token` is an opaque random string, not a JWT: no bearer
authentication accepts it. Only its SHA-256 is a cache key (Redis in
production), holding user, tenant, portal, role, purpose and expiry (at most
`MFA_TOKEN_LIFETIME`, 10 minutes). It is deleted when answered (the delete is
the single-use check: of two racing answers one wins) and when the MFA lock
trips. A password reset or any other "revoke the user's tokens" mark ends it
too (`revocation.session_predates_revocation`, comparing the token's issue time
to the microsecond, as for a session's start).

Wrong codes — at sign-in, enrolment, disabling and regenerating — are counted
per user in the shared cache; `MFA_MAX_FAILURES` within the window lock every
code check of that user for `MFA_LOCK_SECONDS` (429 + Retry-After, even for a
right code) and burn the presented `mfa_token`. Reaching the check at all
needs the user's password (or a live access token), so the lock cannot be
tripped by a stranger who only knows the e-mail.

Secrets (docs/security.md, trap 15): django-otp stores the TOTP key in plain text in
`otp_totp_totpdevice.key` — the library has no encrypted field, and the server
must read the key to compute codes. That table is treated as a secret: its key
is returned once, to the user enrolling, and is never logged, audited or
exported (docs/adr/0007-mfa-secrets.md). Backup codes are Atrium's
(`identity.BackupCode`): only a keyed hash (HMAC-SHA256 with the secret key and
the user id) is stored, so a database copy alone reveals none of them.

Audit: changes to the account's second factor — enabled, disabled, new backup
codes — and the wrong-code lock are the account's, valid in every tenant the
user belongs to, so they go through `audit_record_user_event`: the platform
stream and the stream of each tenant where the user is an active member, where
that tenant's admins read them (`audit-events/`). A single wrong code
(`auth.mfa_failed`) stays where it happened: the sign-in's tenant, or the
platform stream for the authenticated endpoints. No audit row carries the
secret, a code or the `mfa_token`.

Time: every check here — token expiry, the lock, the TOTP step — reads `clock.now()`,
never `time.time()` directly, so tests move the clock instead of sleeping. For
the same reason the TOTP check does django-otp's arithmetic itself (with
`django_otp.oath.TOTP` at `clock.now()`) rather than call `TOTPDevice.verify_token`,
which reads the wall clock inside the library.
"""

from apps.identity.services.mfa.codes import BACKUP_ALPHABET
from apps.identity.services.mfa.flows import (
    MfaStatus,
    TotpConfirmed,
    TotpSetup,
    backup_codes_regenerate,
    login_challenge,
    mfa_status,
    mfa_verify,
    totp_confirm,
    totp_disable,
    totp_setup,
)
from apps.identity.services.mfa.tokens import (
    TOKEN_PREFIX,
    MfaChallenge,
    MfaTokenData,
    Purpose,
    is_mfa_token,
    mfa_token_get,
    mfa_token_issue,
)

__all__ = [
    "BACKUP_ALPHABET",
    "TOKEN_PREFIX",
    "MfaChallenge",
    "MfaStatus",
    "MfaTokenData",
    "Purpose",
    "TotpConfirmed",
    "TotpSetup",
    "backup_codes_regenerate",
    "is_mfa_token",
    "login_challenge",
    "mfa_status",
    "mfa_token_get",
    "mfa_token_issue",
    "mfa_verify",
    "totp_confirm",
    "totp_disable",
    "totp_setup",
]
