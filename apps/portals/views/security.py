"""The member's own security: two-factor sign-in (enrol, backup codes, disable) and their live sessions.

Every rule is identity's, called as the API calls it (apps/identity/api/mfa_views.py,
account_views.py): `mfa.mfa_status`, `mfa.totp_setup`, `mfa.totp_confirm`
(without an enrolment: no session starts), `mfa.backup_codes_regenerate`,
`mfa.totp_disable`; `session_list` and `sessions.session_revoke_own`. Wrong
codes are counted and locked by those services; a lock is the 429 page.

Secrets are shown once and kept nowhere: the TOTP key and QR code on the
response that started the enrolment, the backup codes on the response that
made them. None of these responses is cached.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from apps.common.exceptions import Conflict, NotFound
from apps.identity.client_info import client_info
from apps.identity.exceptions import MfaCodeRejected
from apps.identity.models import AuthSession
from apps.identity.selectors import session_list
from apps.identity.selectors.social import social_links
from apps.identity.services import mfa, sessions
from apps.identity.social_providers import portal_providers
from apps.portals.base import PortalPage
from apps.portals.navigation import SIGNED_IN
from apps.portals.views.forms_support import add_service_errors, parse_id

# Live sessions shown on the page, most recently used first (a user rarely has more).
SESSIONS_SHOWN = 50

_no_cache = method_decorator([never_cache, sensitive_post_parameters("code")], name="dispatch")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off"}
        ),
        help_text="The 6-digit code your authenticator app shows now.",
    )


class CodeOrBackupForm(CodeForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = "The 6-digit code from your authenticator app, or one of your backup codes."
        self.fields["code"].widget.attrs["inputmode"] = "text"


@_no_cache
class SecurityPage(PortalPage):
    """Two-factor status and actions, and every live session of the member (this one marked)."""

    permission = SIGNED_IN
    template_name = "portals/security.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        current = self.principal.sid
        rows = list(session_list(user_id=self.principal.user_id)[: SESSIONS_SHOWN + 1])
        # -- social sign-in: the linked identities, and the providers this portal offers that are not linked yet --
        links = social_links(user_id=self.principal.user_id)
        linked = {link.provider for link in links}
        return self.render(
            {
                "mfa": mfa.mfa_status(user=self.user),
                "sessions": [(s, s.id == current) for s in rows[:SESSIONS_SHOWN]],
                "more_sessions": len(rows) > SESSIONS_SHOWN,
                "browser": AuthSession.Kind.BROWSER,
                "social_links": links,
                "social_linkable": [p for p in portal_providers(portal=self.portal) if p.id not in linked],
            }
        )


@_no_cache
class TotpEnrolPage(PortalPage):
    """POST starts an enrolment: a new key and its QR code, shown on this response only (a GET changes nothing)."""

    permission = SIGNED_IN
    template_name = "portals/security_totp.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render({"start": True})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        try:
            setup = mfa.totp_setup(user=self.user, ip=client_info(request).ip, portal=self.portal.slug)
        except Conflict as exc:
            messages.info(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        return self.render({"setup": setup, "form": CodeForm()})


@_no_cache
class TotpConfirmPage(PortalPage):
    """POST confirms the enrolment with the first code: two-factor on, and the ten backup codes shown once."""

    permission = SIGNED_IN
    template_name = "portals/security_totp.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return HttpResponseRedirect(self.url("security-totp"))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = CodeForm(request.POST)
        if not form.is_valid():
            return self.render({"form": form}, status=400)
        try:
            confirmed = mfa.totp_confirm(user=self.user, code=form.cleaned_data["code"], client=client_info(request))
        except MfaCodeRejected as exc:
            add_service_errors(form, exc)
            return self.render({"form": form}, status=400)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        messages.success(request, "Two-factor enabled.")
        return self.render(
            {"codes": confirmed.backup_codes, "enabled": True}, template="portals/security_backup_codes.html"
        )


@_no_cache
class BackupCodesPage(PortalPage):
    """Ten new backup codes for a current authenticator code; the old ones stop working."""

    permission = SIGNED_IN
    template_name = "portals/security_code.html"
    context = {
        "title": "New backup codes",
        "lead": "Your current backup codes stop working, and ten new ones are shown once.",
        "button": "Make new backup codes",
        "danger": False,
    }

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render({**self.context, "form": CodeForm()})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = CodeForm(request.POST)
        if not form.is_valid():
            return self.render({**self.context, "form": form}, status=400)
        try:
            codes = mfa.backup_codes_regenerate(
                user=self.user, code=form.cleaned_data["code"], ip=client_info(request).ip
            )
        except MfaCodeRejected as exc:
            add_service_errors(form, exc)
            return self.render({**self.context, "form": form}, status=400)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        messages.success(request, "New backup codes created.")
        return self.render({"codes": codes}, template="portals/security_backup_codes.html")


@_no_cache
class TotpDisablePage(PortalPage):
    """Turn two-factor sign-in off with a current code or an unused backup code."""

    permission = SIGNED_IN
    template_name = "portals/security_code.html"
    context = {
        "title": "Turn off two-factor sign-in",
        "lead": "Signing in will need only your password. Your authenticator and backup codes stop working.",
        "button": "Turn off two-factor sign-in",
        "danger": True,
    }

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render({**self.context, "form": CodeOrBackupForm()})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = CodeOrBackupForm(request.POST)
        if not form.is_valid():
            return self.render({**self.context, "form": form}, status=400)
        try:
            mfa.totp_disable(user=self.user, code=form.cleaned_data["code"], ip=client_info(request).ip)
        except MfaCodeRejected as exc:
            add_service_errors(form, exc)
            return self.render({**self.context, "form": form}, status=400)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        messages.success(request, "Two-factor disabled.")
        return HttpResponseRedirect(self.url("security"))


@method_decorator(never_cache, name="dispatch")
class SessionRevokePage(PortalPage):
    """GET asks "sign this session out?"; POST ends it: that browser or app is signed out at its next request."""

    permission = SIGNED_IN
    template_name = "portals/security_session_revoke.html"

    def target(self, session_id: str) -> AuthSession:
        target = parse_id(session_id, what="session")
        session: AuthSession | None = session_list(user_id=self.principal.user_id).filter(id=target).first()
        if session is None:
            raise NotFound("No such session.")
        return session

    def get(self, request: HttpRequest, session_id: str) -> HttpResponseBase:
        session = self.target(session_id)
        return self.render(
            {"session": session, "current": session.id == self.principal.sid, "browser": AuthSession.Kind.BROWSER}
        )

    def post(self, request: HttpRequest, session_id: str) -> HttpResponseBase:
        session = self.target(session_id)
        sessions.session_revoke_own(user_id=self.principal.user_id, session_id=session.id, ip=client_info(request).ip)
        messages.success(request, "Session signed out.")
        return HttpResponseRedirect(self.url("security"))
