"""`signup/`: the form when the portal's policy is `open`; otherwise a 403 page that says sign-up is by invitation.

The rules are identity's (`accounts.user_register`: the password policy, "the
answer reveals nothing"); see `account_support`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect

from apps.common.exceptions import ApplicationError, Conflict, PermissionDenied
from apps.identity import throttling
from apps.identity.client_info import client_info
from apps.identity.models import Portal
from apps.identity.services import accounts
from apps.portals.base import PublicPortalPage
from apps.portals.views.account_support import (
    PASSWORD_HELP,
    TwoPasswordsForm,
    field_errors,
    no_cache,
    password_field,
    throttle,
)

SIGNUP_SENT = (
    "If the sign-up can go ahead, a message is on its way to this address. "
    "Follow its link to confirm the address, then sign in."
)


class SignupForm(TwoPasswordsForm):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    name = forms.CharField(
        label="Name (optional)",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = password_field("Password", help_text=PASSWORD_HELP)
    password_again = password_field("Password, again")


@no_cache
class SignupPage(PublicPortalPage):
    """`signup/`: open sign-up; where the portal's policy is not `open`, a 403 page saying it is by invitation."""

    template_name = "portals/account_signup.html"

    def _closed(self) -> HttpResponse:
        return self.render(template="portals/account_signup_closed.html", status=403)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if self.portal.signup_policy != Portal.SignupPolicy.OPEN:
            return self._closed()
        return self.render({"form": SignupForm()})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        if self.portal.signup_policy != Portal.SignupPolicy.OPEN:
            return self._closed()
        throttle(request, throttling.REGISTER)
        form = SignupForm(request.POST)
        if not form.is_valid():
            return self.render({"form": form}, status=400)
        try:
            accounts.user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                portal_slug=self.portal.slug,
                name=form.cleaned_data["name"],
                ip=client_info(request).ip,
            )
        except Conflict as exc:
            form.add_error(None, exc.detail)
            return self.render({"form": form}, status=409)
        except PermissionDenied:
            return self._closed()
        except ApplicationError as exc:
            if field_errors(form, exc, {"password": "password", "email": "email", "name": "name"}):
                return self.render({"form": form}, status=400)
            raise
        messages.info(request, SIGNUP_SENT)
        return HttpResponseRedirect(self.url("login"))
