"""Social sign-in pages: the buttons' POSTs, the providers' callback, and where a completed exchange lands.

The exchange is django-allauth's (docs/adr/0014-social-sign-in-with-allauth.md):
a start is a POST with CSRF to a portal's `social/<provider>/login/` (or, signed
in, `security/social/<provider>/link/`), counted by the `login` throttle like
the API's sign-in; allauth stashes the state (portal, intent, PKCE verifier) in
this browser's session, and the answer is a page that moves on to the provider
(a `Refresh` header and a link: the posting page's CSP `form-action 'self'`
would stop a redirect to another origin). The provider comes back
to the one redirect URI it knows, `/social/<provider>/callback/`, where
allauth checks that state and the tokens (`SocialCallbackView`). A forged,
missing or spent state is refused there, before Atrium sees any identity.

What allauth proved waits in this browser's session, once, for a few minutes,
under the portal the state names, and the browser goes on to that portal:
`social/complete/` signs in (`social.social_sign_in`, then the same end as
the password form: the session, or the code or enrolment step) and
`security/social/complete/` links (`social.social_link`, only for the member
who started it). A completion at another portal finds nothing: the identity
from portal A's exchange never signs anyone in to portal B.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.base.constants import AuthProcess
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from requests import RequestException

from apps.common.exceptions import Conflict, NotFound
from apps.identity import throttling
from apps.identity.client_info import client_info
from apps.identity.exceptions import EmailUnverified
from apps.identity.selectors.portals import portal_get_public
from apps.identity.services import social
from apps.identity.social.adapter import Completed, Failed, outcome_take
from apps.identity.social_providers import SocialProvider, configured_providers, portal_provider, provider_label
from apps.portals.base import PortalPage, PublicPortalPage, error_page, safe_next
from apps.portals.navigation import SIGNED_IN
from apps.portals.views.account_support import throttle
from apps.portals.views.auth import password_signed_in

_PENDING: Final = "atrium.social"
# How long a proved identity waits for its portal's page (the browser is redirected there at once).
PENDING_SECONDS: Final = 300
LOGIN: Final = "login"
LINK: Final = "link"

_no_cache = method_decorator(never_cache, name="dispatch")


# --------------------------------------------------------------------------- the pending identity


@dataclass(frozen=True)
class Pending:
    portal: str
    intent: str
    identity: social.SocialIdentity
    user: str  # who started a link (their user id); empty for a sign-in


def _pending_keep(request: HttpRequest, pending: Pending) -> None:
    request.session[_PENDING] = {
        "portal": pending.portal,
        "intent": pending.intent,
        "identity": pending.identity.as_dict(),
        "user": pending.user,
        "at": int(time.time()),
    }


def _pending_take(request: HttpRequest, *, portal: str, intent: str) -> Pending | None:
    """The identity waiting for `portal`'s `intent` page, used up (whichever portal asks); None if none is due."""
    raw = request.session.pop(_PENDING, None)
    if not isinstance(raw, dict) or raw.get("portal") != portal or raw.get("intent") != intent:
        return None
    at = raw.get("at")
    identity = social.SocialIdentity.from_dict(raw.get("identity"))
    if not isinstance(at, int) or time.time() - at > PENDING_SECONDS or identity is None:
        return None
    return Pending(portal=portal, intent=intent, identity=identity, user=str(raw.get("user") or ""))


def _start(
    page: PublicPortalPage | PortalPage, provider: SocialProvider, *, process: str, data: dict[str, str]
) -> HttpResponse:
    """allauth's start (the state it stashes in this browser's session), then a page that goes on to the provider.

    Not a redirect: the page that posted the button allows forms to post to itself only (CSP `form-action
    'self'`), and browsers apply that to a redirect answering the form too. The page moves on by a
    `Refresh` header, with a link for a browser that does not.
    """
    request = page.request
    try:
        allauth_provider = get_adapter(request).get_provider(request, provider.id)
        started = allauth_provider.redirect(request, process, data=data)
    except RequestException:  # the OIDC provider's discovery document did not come
        started = None
    outcome_take(request)  # an error allauth met is recorded there; `started` is not a redirect then
    if not isinstance(started, HttpResponseRedirect):
        return error_page(
            request, status=503, detail=f"{provider.label} is not answering. Try again later.", portal=page.portal
        )
    response = page.render(
        {"provider": provider, "destination": started["Location"]}, template="portals/social_redirect.html"
    )
    response["Refresh"] = f"0;url={started['Location']}"
    return response


def _offered(page: PublicPortalPage | PortalPage, provider_id: str) -> SocialProvider:
    provider = portal_provider(portal=page.portal, provider_id=provider_id)
    if provider is None:
        raise NotFound("This portal offers no such sign-in.")
    return provider


# --------------------------------------------------------------------------- signing in


@_no_cache
class SocialLoginPage(PublicPortalPage):
    """POST (the login page's "Sign in with …" button): off to the provider. Counted as a sign-in attempt."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, provider: str) -> HttpResponseBase:
        offered = _offered(self, provider)
        throttle(request, throttling.LOGIN)
        data = {"portal": self.portal.slug, "next": safe_next(request, self.portal, "")}
        return _start(self, offered, process=AuthProcess.LOGIN, data=data)


@_no_cache
class SocialCompletePage(PublicPortalPage):
    """Where a proved identity signs in to this portal: a session, the code step, or the page saying why not."""

    template_name = "portals/social_notice.html"

    def notice(self, kind: str, detail: str, *, status: int) -> HttpResponse:
        transaction.set_rollback(True)
        return self.render({"kind": kind, "detail": detail, "status": status}, status=status)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        pending = _pending_take(request, portal=self.portal.slug, intent=LOGIN)
        if pending is None:
            messages.error(request, "That sign-in did not complete here. Please try again.")
            return HttpResponseRedirect(self.url("login"))
        client = client_info(request)
        try:
            result = social.social_sign_in(identity=pending.identity, portal_slug=self.portal.slug, client=client)
        except social.SocialNotLinked as exc:
            return self.notice("not_linked", exc.detail, status=403)
        except social.SocialSignupClosed as exc:
            return self.notice("signup_closed", exc.detail, status=403)
        except social.SocialNoEmail as exc:
            return self.notice("no_email", exc.detail, status=400)
        except EmailUnverified as exc:
            return self.notice("unverified", exc.detail, status=403)
        if isinstance(result, social.SignedUp):
            return self.render({"kind": "signed_up", "email": result.user.email})
        return password_signed_in(self, request, result, client)


# --------------------------------------------------------------------------- linking and unlinking


@_no_cache
class SocialLinkPage(PortalPage):
    """POST (the security page's "Link …" button): off to the provider, to link what it proves to this account."""

    permission = SIGNED_IN
    http_method_names = ["post"]

    def post(self, request: HttpRequest, provider: str) -> HttpResponseBase:
        offered = _offered(self, provider)
        data = {"portal": self.portal.slug, "user": str(self.principal.user_id)}
        return _start(self, offered, process=AuthProcess.CONNECT, data=data)


@_no_cache
class SocialLinkCompletePage(PortalPage):
    """Where a proved identity is linked to the member who started the link, then back to the security page."""

    permission = SIGNED_IN

    def get(self, request: HttpRequest) -> HttpResponseBase:
        pending = _pending_take(request, portal=self.portal.slug, intent=LINK)
        if pending is None or pending.user != str(self.principal.user_id):
            messages.error(request, "That link did not complete here. Please try again.")
            return HttpResponseRedirect(self.url("security"))
        label = provider_label(pending.identity.provider)
        try:
            linked = social.social_link(
                user=self.user, identity=pending.identity, ip=client_info(request).ip, tenant=self.portal.tenant
            )
        except Conflict as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        if linked:
            messages.success(request, f"{label} is linked: you can sign in with it.")
        else:
            messages.info(request, f"This {label} account was linked already.")
        return HttpResponseRedirect(self.url("security"))


@_no_cache
class SocialUnlinkPage(PortalPage):
    """POST (the security page's "Unlink" button) removes a link; refused when it is the member's only way in."""

    permission = SIGNED_IN
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, link_id: str) -> HttpResponseBase:
        return HttpResponseRedirect(self.url("security"))

    def post(self, request: HttpRequest, link_id: str) -> HttpResponseBase:
        if not link_id.isdigit() or len(link_id) > 18:
            raise NotFound("No such linked sign-in.")
        try:
            provider = social.social_unlink(
                user=self.user, link_id=int(link_id), ip=client_info(request).ip, tenant=self.portal.tenant
            )
        except Conflict as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.url("security"))
        messages.success(request, f"{provider_label(provider)} is unlinked.")
        return HttpResponseRedirect(self.url("security"))


# --------------------------------------------------------------------------- the providers' callback


def _state_data(state: dict[str, Any]) -> dict[str, Any]:
    """What the start put in allauth's state for Atrium (`data`: the portal, the next page, who links)."""
    data = state.get("data")
    return data if isinstance(data, dict) else {}


class SocialCallbackView(View):
    """`/social/<provider>/callback/`: allauth checks the state and the tokens; the portal the state names goes on."""

    http_method_names = ["get"]

    @method_decorator(never_cache)
    def get(self, request: HttpRequest, provider_id: str) -> HttpResponseBase:
        if provider_id not in {p.id for p in configured_providers()}:
            return error_page(request, status=404, detail="There is no such sign-in.")
        allauth_provider = get_adapter(request).get_provider(request, provider_id)
        try:
            OAuth2CallbackView.adapter_view(allauth_provider.get_oauth2_adapter(request))(request)
        except RequestException:  # the OIDC provider's discovery document did not come
            outcome_take(request)
            return error_page(request, status=503, detail=f"{provider_label(provider_id)} is not answering.")
        outcome = outcome_take(request)
        if isinstance(outcome, Completed):
            return self.completed(request, outcome)
        return self.failed(request, outcome, provider_id)

    def completed(self, request: HttpRequest, outcome: Completed) -> HttpResponseBase:
        data = _state_data(outcome.state)
        try:
            portal = portal_get_public(slug=str(data.get("portal") or ""))
        except NotFound:
            return error_page(request, status=404, detail="There is no portal at this address.")
        link = outcome.state.get("process") == AuthProcess.CONNECT
        _pending_keep(
            request,
            Pending(
                portal=portal.slug,
                intent=LINK if link else LOGIN,
                identity=outcome.identity,
                user=str(data.get("user") or "") if link else "",
            ),
        )
        target = reverse("portals:social-link-complete" if link else "portals:social-complete", args=[portal.slug])
        next_path = str(data.get("next") or "")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': next_path})}" if next_path and not link else target)

    def failed(self, request: HttpRequest, outcome: Failed | None, provider_id: str) -> HttpResponseBase:
        """Back to the page the person started from when the state names its portal; the 400 page otherwise."""
        label = provider_label(provider_id)
        state = outcome.state if outcome is not None and outcome.state is not None else {}
        data = _state_data(state)
        portal = None
        if data.get("portal"):
            try:
                portal = portal_get_public(slug=str(data["portal"]))
            except NotFound:
                portal = None
        if portal is None:
            return error_page(
                request,
                status=400,
                detail=f"This {label} sign-in is not valid here any more. Start again from your portal's sign-in page.",
            )
        if outcome is not None and outcome.error == "cancelled":
            messages.error(request, f"Signing in with {label} was cancelled.")
        else:
            messages.error(request, f"Signing in with {label} did not complete. Please try again.")
        back = "portals:security" if state.get("process") == AuthProcess.CONNECT else "portals:login"
        return HttpResponseRedirect(reverse(back, args=[portal.slug]))


def callback_patterns() -> list[URLPattern]:
    """The providers' redirect URIs, under `/social/`. allauth reverses them by these names."""
    view = SocialCallbackView.as_view()
    return [
        path("google/callback/", view, {"provider_id": "google"}, name="google_callback"),
        path("github/callback/", view, {"provider_id": "github"}, name="github_callback"),
        path("<slug:provider_id>/callback/", view, name="openid_connect_callback"),
    ]
