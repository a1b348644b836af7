"""`email/verify/?key=` and `email/resend/`: confirm an address from its mailed link, or ask for a new link.

The key is spent by a POST, not by opening the link, so a mail scanner that
follows links cannot verify an address (and so hand an account to whoever
signed up with it) without the person. A dead key: 400, with the form for a new
link (`email/resend/`), which gives the same answer for every address. The
rules are identity's (`accounts`); see `account_support`.
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
from apps.portals.views.account_support import EmailForm, no_cache, throttle

RESEND_SENT = "If this address has an unverified account, a new link is on its way. Check your mail."


class ResendForm(EmailForm):
    pass


class VerifyForm(forms.Form):
    key = forms.CharField(max_length=1000, widget=forms.HiddenInput)


@no_cache
class EmailVerifyPage(PublicPortalPage):
    """`email/verify/?key=`: a button confirms the address (a POST, so a link scanner cannot)."""

    template_name = "portals/account_email_verify.html"

    def _dead(self, detail: str) -> HttpResponse:
        return self.render(
            {"dead_link": detail, "form": ResendForm()}, template="portals/account_email_resend.html", status=400
        )

    def get(self, request: HttpRequest) -> HttpResponseBase:
        form = VerifyForm(request.GET)
        if not form.is_valid():
            if "key" not in request.GET:
                return self.render({"form": ResendForm()}, template="portals/account_email_resend.html")
            return self._dead(accounts.INVALID_VERIFY_KEY)
        try:
            accounts.email_verify_key_check(key=form.cleaned_data["key"])
        except ApplicationError as exc:
            return self._dead(exc.detail)
        return self.render({"form": form})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = VerifyForm(request.POST)
        if not form.is_valid():
            return self._dead(accounts.INVALID_VERIFY_KEY)
        try:
            accounts.email_verify(key=form.cleaned_data["key"], ip=client_info(request).ip)
        except ApplicationError as exc:
            if exc.status != 400:  # anything but a dead link is the base's error page
                raise
            return self._dead(exc.detail)
        messages.success(request, "Your e-mail address is confirmed. You can sign in now.")
        return HttpResponseRedirect(self.url("login"))


@no_cache
class EmailResendPage(PublicPortalPage):
    """`email/resend/`: a new verification link, with the same answer for every address."""

    template_name = "portals/account_email_resend.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render({"form": ResendForm()})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        throttle(request, throttling.EMAIL_RESEND)
        form = ResendForm(request.POST)
        if not form.is_valid():
            return self.render({"form": form}, status=400)
        accounts.email_verification_resend(
            email=form.cleaned_data["email"], portal_slug=self.portal.slug, ip=client_info(request).ip
        )
        messages.info(request, RESEND_SENT)
        return HttpResponseRedirect(self.url("login"))
