"""`password/reset/`: the "forgot password" form, and the "choose a new password" form a mailed link opens.

Without a link, the "forgot password" form (always the same answer); with
`?uid=&token=`, the "choose a new password" form (also the set-password link
`create_tenant` mails). A dead link is a 400 page offering a new one. Success:
every session of the user ends; to the login page. The rules are identity's
(`accounts`); see `account_support`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect

from apps.common.exceptions import ApplicationError
from apps.identity import throttling
from apps.identity.client_info import client_info
from apps.identity.services import accounts
from apps.portals.base import PublicPortalPage
from apps.portals.views.account_support import (
    PASSWORD_HELP,
    EmailForm,
    TwoPasswordsForm,
    field_errors,
    fits,
    no_cache,
    password_field,
    throttle,
)

RESET_SENT = "If this address has an account, a reset link is on its way. Check your mail."


class ForgotPasswordForm(EmailForm):
    pass


class NewPasswordForm(TwoPasswordsForm):
    first = "new_password"
    second = "new_password_again"

    uid = forms.CharField(max_length=100, widget=forms.HiddenInput)
    token = forms.CharField(max_length=200, widget=forms.HiddenInput)
    new_password = password_field("New password", help_text=PASSWORD_HELP)
    new_password_again = password_field("New password, again")


@no_cache
class PasswordResetPage(PublicPortalPage):
    """`password/reset/`: ask for a link, or, with the link's `uid` and `token`, choose the new password."""

    template_name = "portals/account_password_reset.html"

    def _link(self, request: HttpRequest) -> tuple[str, str] | None:
        source = request.POST if request.method == "POST" else request.GET
        uid, token = source.get("uid"), source.get("token")
        if uid is None and token is None:
            return None
        return str(uid or ""), str(token or "")

    def _forgot(self, form: forms.Form | None = None, *, dead_link: str = "", status: int = 200) -> HttpResponse:
        return self.render(
            {"form": form or ForgotPasswordForm(), "dead_link": dead_link},
            template="portals/account_password_forgot.html",
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponseBase:
        link = self._link(request)
        if link is None:
            return self._forgot()
        uid, token = link
        form = NewPasswordForm(initial={"uid": uid, "token": token})
        if not fits(form, uid=uid, token=token):
            return self._forgot(dead_link=accounts.INVALID_RESET_LINK, status=400)
        try:
            user = accounts.password_reset_link_check(uid=uid, token=token)
        except ApplicationError as exc:
            return self._forgot(dead_link=exc.detail, status=400)
        return self.render({"form": form, "email": user.email})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        if self._link(request) is None:
            return self._request_link(request)
        form = NewPasswordForm(request.POST)
        if not form.is_valid():
            if form.has_error("uid") or form.has_error("token"):
                return self._forgot(dead_link=accounts.INVALID_RESET_LINK, status=400)
            return self.render({"form": form}, status=400)
        try:
            accounts.password_reset_confirm(
                uid=form.cleaned_data["uid"],
                token=form.cleaned_data["token"],
                new_password=form.cleaned_data["new_password"],
                ip=client_info(request).ip,
            )
        except ApplicationError as exc:
            if field_errors(form, exc, {"new_password": "new_password"}):
                return self.render({"form": form}, status=400)
            if exc.status != 400:  # anything but a dead link is the base's error page
                raise
            return self._forgot(dead_link=exc.detail, status=400)
        messages.success(request, "Your password is set, and you were signed out everywhere. Sign in with it now.")
        return HttpResponseRedirect(self.url("login"))

    def _request_link(self, request: HttpRequest) -> HttpResponse:
        throttle(request, throttling.PASSWORD_RESET)  # every request counts, as at the API
        form = ForgotPasswordForm(request.POST)
        if not form.is_valid():
            return self._forgot(form, status=400)
        accounts.password_reset_request(
            email=form.cleaned_data["email"], portal_slug=self.portal.slug, ip=client_info(request).ip
        )
        messages.info(request, RESET_SENT)
        return HttpResponseRedirect(self.url("login"))
