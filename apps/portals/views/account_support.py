"""What the account pages before sign-in share: the cache and secrets decorator, the throttle, form helpers.

The pages mailed links open, and the account pages before sign-in, live one
concern a module: `account_password` (forgot / reset / set password),
`account_email` (verify, resend), `account_invitation` (accept an invitation)
and `account_signup` (open sign-up).

Every rule is identity's, reached through the same services as the API
(`accounts`, `invitations`, `signin`): the tokens and keys, single use, the
password policy, "the answer reveals nothing", seats and admission. These pages
only move the person between forms.

The "forgot", resend and sign-up forms count against the API's throttles (the
same scope and client IP), so a second door does not double the allowance.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from apps.common.exceptions import ApplicationError, TooManyRequests
from apps.identity import throttling

_SECRETS = ("password", "password_again", "new_password", "new_password_again", "token", "uid", "key")
no_cache = method_decorator([never_cache, sensitive_post_parameters(*_SECRETS)], name="dispatch")


def throttle(request: HttpRequest, scope: str) -> None:
    """Count the request against the API's throttle of `scope` (per client IP); 429 with the wait past it."""

    class Scoped:
        throttle_scope = scope

    limiter = throttling.ScopedAuthThrottle()
    if not limiter.allow_request(cast(Any, request), cast(Any, Scoped())):
        raise TooManyRequests("Too many requests from this network.", retry_after=int(limiter.wait()))


def fits(form: forms.Form, **values: str) -> bool:
    """Whether link parameters taken from the query string would pass the form's hidden fields."""
    for name, value in values.items():
        try:
            form.fields[name].clean(value)
        except forms.ValidationError:
            return False
    return True


def field_errors(form: forms.Form, exc: ApplicationError, fields: dict[str, str]) -> bool:
    """Put the service's `errors.<name>` next to the form's field; False when none of them applies."""
    errors = exc.errors or {}
    placed = False
    for name, field in fields.items():
        for message in errors.get(name, []):
            form.add_error(field, str(message))
            placed = True
    return placed


# --------------------------------------------------------------------------- forms


class EmailForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


def password_field(label: str, autocomplete: str = "new-password", **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        **kwargs,
    )


PASSWORD_HELP = "At least 12 characters; not a common password, and not like your e-mail or name."  # noqa: S105 - help text


class TwoPasswordsForm(forms.Form):
    """Two password fields that must match; the password policy itself is identity's (errors come back from it)."""

    first = "password"
    second = "password_again"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        one, two = data.get(self.first), data.get(self.second)
        if one is not None and two is not None and one != two:
            self.add_error(self.second, "The two passwords differ.")
        return data
