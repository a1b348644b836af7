"""django-otp (TOTP only) and Atrium's own MFA limits.

Backup codes are Atrium's (`identity.BackupCode`, stored hashed), not
django-otp's static plugin, which keeps them in plain text (docs/security.md,
trap 15). django-otp's per-device exponential throttle is switched off: it lives in
one database row per device and answers "not allowed" without a Retry-After;
Atrium counts wrong codes in the shared cache instead (`apps.identity.services.mfa`),
so every app server sees the same count and the lock answers 429.
"""

OTP_TOTP_ISSUER = "Atrium"
OTP_TOTP_THROTTLE_FACTOR = 0

# Wrong codes (TOTP or backup) a user may enter within the window before MFA is locked.
MFA_MAX_FAILURES = 5
MFA_FAILURE_WINDOW_SECONDS = 15 * 60
MFA_LOCK_SECONDS = 5 * 60
MFA_BACKUP_CODE_COUNT = 10
