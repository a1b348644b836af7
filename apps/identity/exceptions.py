"""Identity's domain errors (part of the ApplicationError family)."""

from __future__ import annotations

from apps.common.exceptions import ApplicationError, PermissionDenied


class InvalidCredentials(ApplicationError):
    status = 401
    code = "invalid_credentials"
    title = "Not authenticated"


class TokenInvalid(ApplicationError):
    status = 401
    code = "token_invalid"
    title = "Not authenticated"


class MfaCodeInvalid(ApplicationError):
    """A wrong TOTP or backup code at sign-in (`auth/mfa/verify/`): not authenticated."""

    status = 401
    code = "mfa_code_invalid"
    title = "Not authenticated"


class MfaCodeRejected(ApplicationError):
    """A wrong code on a call that is already authenticated (confirm, disable, new backup codes)."""

    status = 400
    code = "mfa_code_invalid"
    title = "Invalid request"


class EmailUnverified(PermissionDenied):
    """The right password for an account whose address was never proved (self sign-up): 403."""

    code = "email_unverified"
    title = "E-mail address not verified"


class FeatureNotInPlan(PermissionDenied):
    """The tenant's plan does not include a feature (an endpoint's `required_feature`, custom roles, ...)."""

    code = "feature_not_in_plan"
    title = "Not in your plan"
