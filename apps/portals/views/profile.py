"""The member's profile: their display name, and a password change.

`accounts.user_name_change` and `accounts.password_change` hold the rules (the
latter as the API's `auth/password/change/` calls it: the current password,
counted by the login lockout when wrong; the password validators; every other
session of the user ends, and this browser's session — `principal.sid` — stays).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from apps.common.exceptions import ApplicationError, TooManyRequests
from apps.identity.client_info import client_info
from apps.identity.selectors.tenancy import tenant_get
from apps.identity.services import accounts
from apps.portals.base import PortalPage, too_many_message, with_retry_after
from apps.portals.navigation import SIGNED_IN
from apps.portals.views.forms_support import add_service_errors


class NameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=accounts.NAME_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        help_text="How other members of your organisation see you.",
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label="Current password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label="New password again",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new, again = data.get("new_password"), data.get("new_password_again")
        if new is not None and again is not None and new != again:
            self.add_error("new_password_again", "The two new passwords differ.")
        return data


_no_cache = method_decorator(
    [never_cache, sensitive_post_parameters("current_password", "new_password", "new_password_again")],
    name="dispatch",
)


@_no_cache
class ProfilePage(PortalPage):
    """GET shows both forms; POST saves the name."""

    permission = SIGNED_IN
    template_name = "portals/profile.html"

    def page(
        self, *, name_form: NameForm | None = None, password_form: PasswordChangeForm | None = None
    ) -> dict[str, Any]:
        return {
            "name_form": name_form or NameForm(initial={"name": self.user.name}, prefix="profile"),
            "password_form": password_form or PasswordChangeForm(prefix="password"),
        }

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.page())

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = NameForm(request.POST, prefix="profile")
        if not form.is_valid():
            return self.render(self.page(name_form=form), status=400)
        try:
            accounts.user_name_change(
                user=self.user,
                name=form.cleaned_data["name"],
                tenant=tenant_get(tenant_id=self.principal.tenant_id),
                ip=client_info(request).ip,
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.page(name_form=form), status=exc.status)
        messages.success(request, "Name saved.")
        return HttpResponseRedirect(self.url("profile"))


@_no_cache
class PasswordChangePage(ProfilePage):
    """POST changes the password: this browser stays signed in, every other session ends."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = PasswordChangeForm(request.POST, prefix="password")
        if not form.is_valid():
            return self.render(self.page(password_form=form), status=400)
        principal = self.principal
        try:
            ended = accounts.password_change(
                user_id=principal.user_id,
                session_id=principal.sid,
                tenant_id=principal.tenant_id,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                ip=client_info(request).ip,
            )
        except TooManyRequests as exc:
            form.add_error(None, too_many_message(exc))
            return with_retry_after(self.render(self.page(password_form=form), status=429), exc)
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.page(password_form=form), status=exc.status)
        ending = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
        messages.success(request, f"Password changed.{ending}")
        return HttpResponseRedirect(self.url("profile"))
