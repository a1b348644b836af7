"""The base every portal page stands on, beside the API's: it does the scoping so pages cannot forget it.

`PortalPage` resolves `/portal/<slug>/` to an open portal and its tenant
(unknown or inactive: the 404 page), authenticates the browser session of
*that* portal (`session_store` + `browser_sessions.browser_auth`: the same
principal and revocation check as a bearer token), checks the page's declared
`permission` with the RBAC check the API uses, and runs the handler in the
portal's tenant context. Anonymous visitors go to the portal's login page;
a signed-in member without the permission gets the 403 page.

`PublicPortalPage` is the one other kind: pages of a portal that nobody needs
to be signed in for (sign-in, password reset, links in mails), each named with
its reason in the URL walker test.

A domain error a handler does not catch (`ApplicationError`) becomes the
matching page — 403, 404, 429 with the wait, or 400 with its message — and the
request's transaction is rolled back. No input gets a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.core.files.uploadhandler import FileUploadHandler
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from apps.common.exceptions import ApplicationError, NotFound, TooManyRequests
from apps.common.tenancy import tenant_context
from apps.identity.client_info import client_info
from apps.identity.models import Portal, User
from apps.identity.principal import Principal
from apps.identity.rbac.catalogue import ensure_declared
from apps.identity.rbac.request_checks import request_has_permission
from apps.identity.selectors.accounts import user_get_active
from apps.identity.selectors.portals import portal_feature_on, portal_get_public
from apps.identity.services.browser_sessions import browser_auth
from apps.portals import session_store
from apps.portals.navigation import SIGNED_IN, navigation


def _wait_text(seconds: int | None) -> str:
    if not seconds:
        return "a moment"
    minutes, secs = divmod(int(seconds), 60)
    if minutes == 0:
        return f"{secs} second{'s' if secs != 1 else ''}"
    minutes += 1 if secs else 0
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def too_many_message(exc: TooManyRequests) -> str:
    """What a locked or throttled person reads: the service's reason and how long to wait."""
    return f"{exc.detail} Try again in {_wait_text(exc.retry_after)}."


def with_retry_after(response: HttpResponse, exc: TooManyRequests) -> HttpResponse:
    """`response` (a form shown again with the wait, 429) carrying the error's `Retry-After` header."""
    for name, value in exc.headers.items():
        response[name] = value
    return response


def error_page(request: HttpRequest, *, status: int, detail: str, portal: Portal | None = None) -> HttpResponse:
    titles = {400: "That did not work", 403: "Not allowed", 404: "Page not found", 429: "Please wait"}
    return render(
        request,
        "portals/error.html",
        {"portal": portal, "status": status, "title": titles.get(status, "Something went wrong"), "detail": detail},
        status=status,
    )


def safe_next(request: HttpRequest, portal: Portal, default: str) -> str:
    """`?next=` when it is a path of this portal on this host; otherwise `default` (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    prefix = f"/portal/{portal.slug}/"
    if (
        target.startswith(prefix)
        and "\\" not in target
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    ):
        return target
    return default


class _PortalBase(View):
    template_name: ClassVar[str] = ""
    portal: Portal
    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        slug = kwargs.pop("slug")
        try:
            self.portal = portal_get_public(slug=slug)
        except NotFound:
            return error_page(request, status=404, detail="There is no portal at this address.")
        try:
            return self.enter(request, *args, **kwargs)
        except ApplicationError as exc:
            transaction.set_rollback(True)
            detail = exc.detail
            if isinstance(exc, TooManyRequests):
                detail = too_many_message(exc)
            status = exc.status if exc.status in (400, 403, 404, 409, 429) else 400
            return error_page(request, status=status, detail=detail, portal=self.portal)

    def enter(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return super().dispatch(request, *args, **kwargs)

    def url(self, name: str, **params: str) -> str:
        path = reverse(f"portals:{name}", kwargs={"slug": self.portal.slug})
        return f"{path}?{urlencode(params)}" if params else path

    def render(self, context: dict[str, Any] | None = None, *, status: int = 200, template: str = "") -> HttpResponse:
        full = {"portal": self.portal, **self.extra_context(), **(context or {})}
        return render(self.request, template or self.template_name, full, status=status)

    def extra_context(self) -> dict[str, Any]:
        return {}


class PublicPortalPage(_PortalBase):
    """A page of the portal that needs no sign-in (sign-in itself, links in mails)."""


class PortalPage(_PortalBase):
    """A page for signed-in members of this portal that hold `permission` (or `SIGNED_IN`: any member).

    A page that belongs to a feature names it in `feature`: it is then 403 (and absent from the
    navigation) when the tenant's plan lacks the feature or the portal has switched its flag off.
    """

    permission: ClassVar[str] = ""
    feature: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "dispatch" in vars(cls) or "enter" in vars(cls):
            raise TypeError(f"{cls.__qualname__} overrides dispatch/enter: the base class does the checks.")

    def enter(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not self.permission:
            raise TypeError(f"{type(self).__qualname__} declares no permission (a code, or SIGNED_IN).")
        claims = session_store.claims_get(request, self.portal.slug)
        auth = browser_auth(claims=claims, portal=self.portal, client=client_info(request)) if claims else None
        if auth is None:
            if claims is not None:
                session_store.claims_forget(request, self.portal.slug, rotate=False)
                _flash_ended(request)
            login = reverse("portals:login", kwargs={"slug": self.portal.slug})
            return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        if auth.renewed:
            session_store.claims_keep(request, self.portal.slug, auth.claims, rotate=False)
        request.auth = auth.principal  # type: ignore[attr-defined]  # what `request|can:` and RBAC read
        with tenant_context(auth.principal.tenant):
            if self.permission != SIGNED_IN:
                ensure_declared(self.permission)
                if not request_has_permission(request, self.permission):
                    return error_page(
                        request, status=403, detail="Your role does not allow this page.", portal=self.portal
                    )
            if self.feature and not portal_feature_on(portal=self.portal, code=self.feature):
                return error_page(
                    request,
                    status=403,
                    detail="This page is not part of this portal or of your organisation's plan.",
                    portal=self.portal,
                )
            if not type(self).takes_uploads():
                return super().enter(request, *args, **kwargs)
            # Only now is the body read, with the page's handlers; then CSRF is checked (see `upload_handlers`).
            request.upload_handlers = self.upload_handlers(request)
            try:
                _ = request.POST
            except MultiPartParserError as exc:
                return self.upload_refused(ApplicationError(f"The form could not be read ({exc})."))
            except ApplicationError as exc:
                return self.upload_refused(exc)
            return csrf_protect(super().enter)(request, *args, **kwargs)

    # -- file uploads: a page that takes them overrides `upload_handlers` (and `upload_refused`) --

    def upload_handlers(self, request: HttpRequest) -> list[FileUploadHandler]:
        """The handlers this page reads its multipart body with (overridden: the page takes uploads).

        Django's CSRF middleware reads the body, with the default handlers, before any view runs. So a
        page that overrides this is exempt from the middleware (`as_view`) and `enter` does what Django's
        docs show ("Modifying upload handlers on the fly"): after the sign-in, permission and feature
        checks it installs these handlers, reads the body, and only then checks CSRF (`csrf_protect`)
        before the handler runs. No body is read for an anonymous or unauthorised request.
        """
        return list(request.upload_handlers)

    def upload_refused(self, exc: ApplicationError) -> HttpResponseBase:
        """The answer when reading the body fails (the handlers refused it: too large, unreadable).

        Nothing was done, so it needs no CSRF token (a refused body may not have delivered one).
        By default the error's page.
        """
        raise exc

    @classmethod
    def takes_uploads(cls) -> bool:
        return cls.upload_handlers is not PortalPage.upload_handlers

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        view = super().as_view(**initkwargs)
        # An upload page's CSRF check is `enter`'s, after its handlers are in place (`upload_handlers`).
        return csrf_exempt(view) if cls.takes_uploads() else view

    @property
    def principal(self) -> Principal:
        auth = getattr(self.request, "auth", None)
        assert isinstance(auth, Principal)
        return auth

    @cached_property
    def user(self) -> User:
        user = user_get_active(user_id=self.principal.user_id)
        if user is None:
            raise NotFound("This account is no longer active.")
        return user

    def extra_context(self) -> dict[str, Any]:
        return {"nav": navigation(self.request, self.portal), "principal": self.principal, "me": self.user}


def _flash_ended(request: HttpRequest) -> None:
    from django.contrib import messages

    messages.info(request, "Your session has ended. Please sign in again.")
