"""Signing in to a portal and out of it: password, the second factor, enrolment where MFA is required.

Every rule is identity's: `signin.sign_in` (lockout, password, admission,
audit), `mfa.mfa_verify` / `mfa.totp_confirm` (codes, single-use tokens) and
`browser_sessions` (the session of kind "browser"). These pages only move the
person between forms and keep the portal's claims in the Django session.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from apps.common.exceptions import PermissionDenied, TooManyRequests
from apps.identity.client_info import client_info
from apps.identity.exceptions import EmailUnverified, InvalidCredentials, MfaCodeInvalid, MfaCodeRejected, TokenInvalid
from apps.identity.models import User
from apps.identity.selectors.accounts import user_get_active
from apps.identity.services import mfa, signin
from apps.identity.services.browser_sessions import BrowserSignIn, browser_session_end, browser_session_start
from apps.identity.services.lockout import DEVICE_COOKIE, DEVICE_MAX_AGE_SECONDS, known_device_issue
from apps.identity.services.mfa import MfaChallenge
from apps.identity.services.sessions import ClientInfo
from apps.portals import session_store
from apps.portals.base import PortalPage, PublicPortalPage, error_page, safe_next, too_many_message, with_retry_after
from apps.portals.navigation import SIGNED_IN


class LoginForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"}),
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
    )


_no_cache = method_decorator([never_cache, sensitive_post_parameters("password", "code")], name="dispatch")


def _signed_in(view: PublicPortalPage, request: HttpRequest, started: BrowserSignIn) -> HttpResponse:
    """Keep the new session's claims under a fresh session key and go where the person was headed."""
    session_store.claims_keep(request, view.portal.slug, started.claims, rotate=True)
    response = HttpResponseRedirect(safe_next(request, view.portal, view.url("dashboard")))
    device = known_device_issue(user=started.session.user)
    if device:
        response.set_cookie(
            DEVICE_COOKIE,
            device,
            max_age=DEVICE_MAX_AGE_SECONDS,
            httponly=True,
            secure=not settings.DEBUG,
            samesite="Lax",
        )
    return response


def password_signed_in(
    view: PublicPortalPage, request: HttpRequest, result: signin.Admitted | MfaChallenge, client: ClientInfo
) -> HttpResponse:
    """The end of a password sign-in (`signin.sign_in`'s answer): the browser session, or the second factor's step.

    The login page ends here, and so does accepting an invitation, which signs the person in the same way.
    """
    if isinstance(result, signin.Admitted):
        started = browser_session_start(
            user=result.user, membership=result.membership, portal=result.portal, amr=list(result.amr), client=client
        )
        return _signed_in(view, request, started)
    session_store.mfa_pending_keep(request, view.portal.slug, token=result.mfa_token, enrol=result.setup_required)
    step = "login-enrol" if result.setup_required else "login-code"
    next_path = safe_next(request, view.portal, "")
    return HttpResponseRedirect(view.url(step, next=next_path) if next_path else view.url(step))


@_no_cache
class LoginPage(PublicPortalPage):
    template_name = "portals/login.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if session_store.claims_get(request, self.portal.slug) is not None:
            return HttpResponseRedirect(self.url("dashboard"))
        return self.render({"form": LoginForm(), "next": safe_next(request, self.portal, "")})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = LoginForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": safe_next(request, self.portal, "")}
        if not form.is_valid():
            return self.render(context, status=400)
        client = client_info(request)
        try:
            result = signin.sign_in(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                portal_slug=self.portal.slug,
                client=client,
            )
        except InvalidCredentials as exc:
            form.add_error(None, exc.detail)
            return self.render(context, status=400)
        except EmailUnverified as exc:
            form.add_error(None, exc.detail)
            return self.render(context, status=403)
        except TooManyRequests as exc:
            form.add_error(None, too_many_message(exc))
            return with_retry_after(self.render(context, status=429), exc)
        except PermissionDenied as exc:
            # A member this portal does not admit: the 403 page, and no session here.
            return error_page(request, status=403, detail=exc.detail, portal=self.portal)
        return password_signed_in(self, request, result, client)


class _SecondFactorPage(PublicPortalPage):
    enrol: bool = False

    def pending(self, request: HttpRequest) -> str | None:
        pending = session_store.mfa_pending_get(request, self.portal.slug)
        if pending is None or bool(pending.get("enrol")) != self.enrol:
            return None
        return str(pending["token"])

    def restart(self, request: HttpRequest, detail: str) -> HttpResponse:
        session_store.mfa_pending_forget(request, self.portal.slug)
        messages.error(request, detail)
        return HttpResponseRedirect(self.url("login"))


@_no_cache
class LoginCodePage(_SecondFactorPage):
    """The second step for a user with MFA on: a TOTP code or a backup code (each once)."""

    template_name = "portals/login_code.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if self.pending(request) is None:
            return HttpResponseRedirect(self.url("login"))
        return self.render({"form": CodeForm(), "next": safe_next(request, self.portal, "")})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        token = self.pending(request)
        if token is None:
            return HttpResponseRedirect(self.url("login"))
        form = CodeForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": safe_next(request, self.portal, "")}
        if not form.is_valid():
            return self.render(context, status=400)
        try:
            started = mfa.mfa_verify(
                mfa_token=token,
                code=form.cleaned_data["code"],
                client=client_info(request),
                start=browser_session_start,
            )
        except MfaCodeInvalid as exc:
            form.add_error("code", exc.detail)
            return self.render(context, status=400)
        except TooManyRequests as exc:
            return self.restart(request, too_many_message(exc))
        except (TokenInvalid, PermissionDenied) as exc:
            return self.restart(request, exc.detail)
        return _signed_in(self, request, started)


@_no_cache
class LoginEnrolPage(_SecondFactorPage):
    """Forced enrolment: this portal requires MFA and the user has none yet. Success signs them in."""

    template_name = "portals/login_enrol.html"
    enrol = True

    def _user(self, token: str) -> tuple[mfa.MfaTokenData, User]:
        data = mfa.mfa_token_get(raw=token, purpose="enrol")
        user = user_get_active(user_id=data.user_id)
        if user is None:
            raise TokenInvalid("The sign-in has expired; sign in again.")
        return data, user

    def get(self, request: HttpRequest) -> HttpResponseBase:
        token = self.pending(request)
        if token is None:
            return HttpResponseRedirect(self.url("login"))
        try:
            _, user = self._user(token)
            setup = mfa.totp_setup(user=user, ip=client_info(request).ip, portal=self.portal.slug)
        except TokenInvalid as exc:
            return self.restart(request, exc.detail)
        return self.render({"form": CodeForm(), "setup": setup, "next": safe_next(request, self.portal, "")})

    def post(self, request: HttpRequest) -> HttpResponseBase:
        token = self.pending(request)
        if token is None:
            return HttpResponseRedirect(self.url("login"))
        form = CodeForm(request.POST)
        try:
            data, user = self._user(token)
            if not form.is_valid():
                raise MfaCodeRejected("Enter the code.")
            confirmed = mfa.totp_confirm(
                user=user,
                code=form.cleaned_data["code"],
                client=client_info(request),
                enrolment=data,
                start=browser_session_start,
            )
        except MfaCodeRejected:
            messages.error(request, "The code is wrong or has expired; scan the new code and try again.")
            return HttpResponseRedirect(self.url("login-enrol"))
        except TooManyRequests as exc:
            return self.restart(request, too_many_message(exc))
        except TokenInvalid as exc:
            return self.restart(request, exc.detail)
        assert confirmed.tokens is not None
        response = _signed_in(self, request, confirmed.tokens)
        # The backup codes are shown once, on this response; nothing keeps them.
        page = self.render(
            {"codes": confirmed.backup_codes, "continue_url": response["Location"]},
            template="portals/backup_codes.html",
        )
        for cookie in response.cookies.values():
            page.cookies[cookie.key] = cookie
        return page


@method_decorator(never_cache, name="dispatch")
class LogoutPage(PortalPage):
    """Sign-out is a POST (a link or an image cannot sign anyone out): the session ends everywhere it counts."""

    permission = SIGNED_IN
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        claims = session_store.claims_get(request, self.portal.slug) or {}
        browser_session_end(claims=claims, ip=client_info(request).ip)
        session_store.claims_forget(request, self.portal.slug, rotate=True)
        messages.success(request, "You have signed out.")
        return HttpResponseRedirect(self.url("login"))
