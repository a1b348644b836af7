"""Every URL is served by a base-class view or is public for a stated reason.

The walker visits every pattern of `config.urls` (through every include) and
looks at the view behind it — a DRF class, a plain function, or each view of a
`MethodDispatch` path. A view passes when it is
- a `TenantAPIView` / `TenantViewSet`: bearer authentication, the RBAC action
  map and the tenant context come from the base class, its
  `required_permissions` covers every action it has (an unmapped action would
  be denied to everyone) and names no action it lacks (a typo); or
- a `PublicAPIView` named in `PUBLIC_API_VIEWS` with the reason docs/api.md makes
  it public; or
- a service endpoint named in `PUBLIC_ENDPOINTS` with its reason.
No view class may override `get_queryset`, `get_object`, `get_permissions` or
`get_authenticators` (the base classes do the scoping and the checks); a
tenant view keeps the base's `permission_classes` and changes its
`authentication_classes` only where `AUTHENTICATION_EXCEPTIONS` says why.

`iter_routes()` is reused by the OpenAPI contract test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from apps.identity.api import base
from apps.identity.api.base import PublicAPIView, TenantAPIView, TenantViewSet
from apps.identity.api.views import MethodDispatch
from apps.identity.rbac.catalogue import ensure_declared
from apps.identity.rbac.view_coverage import uncovered_actions, view_actions
from apps.portals.base import PortalPage, PublicPortalPage
from apps.portals.navigation import SIGNED_IN

# Views that are not on a base class: service endpoints, each with its reason (dotted path of the view).
PUBLIC_ENDPOINTS: dict[str, str] = {
    "apps.common.views.healthz": "liveness probe for the load balancer; no data",
    "apps.common.views.readyz": "readiness probe; reports only which dependencies answer",
    "apps.common.views.metrics": "Prometheus scrape; guarded by its own METRICS_TOKEN, 404 outside debug without one",
    "apps.common.views.ServiceInfoView": "API root: name, version and links to the schema and docs",
    "drf_spectacular.views.SpectacularAPIView": "the OpenAPI document is public (docs/api.md)",
    "drf_spectacular.views.SpectacularSwaggerSplitView": "Swagger UI over the public schema (docs/api.md)",
    "apps.portals.views.pages.landing": "the start page: names no tenant, a form to go to a portal",
    "django.views.generic.base.RedirectView": "/portal/<slug>/ redirects to the dashboard, which checks",
    "apps.portals.views.social.SocialCallbackView": (
        "a social provider's redirect back: allauth checks the state this browser's session holds; no sign-in here"
    ),
}

# `PublicAPIView`s: no authentication, so each is listed with the reason docs/api.md makes it public.
PUBLIC_API_VIEWS: dict[str, str] = {
    "apps.identity.api.views.PortalPublicView": "a login page's portal metadata, read before anyone signs in",
    "apps.identity.api.auth_views.LoginView": "signing in: the credentials are the authentication",
    "apps.identity.api.auth_views.RefreshView": "the refresh token is the authentication",
    "apps.identity.api.auth_views.LogoutView": "the refresh token is the authentication (a bearer is optional)",
    "apps.identity.api.auth_views.JWKSView": "public keys for verifying access tokens",
    "apps.identity.api.mfa_views.MfaVerifyView": "the mfa_token from the login step is the authentication",
    "apps.identity.api.account_views.RegisterView": "self sign-up where a portal's policy is open",
    "apps.identity.api.account_views.EmailVerifyView": "the mailed key is the authentication",
    "apps.identity.api.account_views.EmailResendView": "always 202; reveals nothing",
    "apps.identity.api.account_views.PasswordResetView": "always 202; reveals nothing",
    "apps.identity.api.account_views.PasswordResetConfirmView": "the mailed reset token is the authentication",
    "apps.identity.api.invitations.InvitationAcceptView": "the invitation token is the authentication",
    "apps.files.api.views.FileDownloadView": (
        "a file's signed, expiring link (local storage): the token, bound to the tenant and file, is the grant"
    ),
    "apps.billing.api.views.StripeWebhookView": "Stripe's deliveries: the verified Stripe-Signature authenticates",
}

# Portal pages nobody needs to be signed in for, each with its reason (docs/api.md, "Portal UI").
PUBLIC_PORTAL_PAGES: dict[str, str] = {
    "apps.portals.views.pages.ThemeStylesheet": "the portal's colours: the login page needs them too",
    "apps.portals.views.auth.LoginPage": "signing in: the credentials are the authentication",
    "apps.portals.views.auth.LoginCodePage": "the second factor of a sign-in in progress (its mfa_token)",
    "apps.portals.views.auth.LoginEnrolPage": "forced enrolment of a sign-in in progress (its enrolment mfa_token)",
    "apps.portals.views.account_password.PasswordResetPage": (
        "asking for a reset link (same answer for all); the link's token"
    ),
    "apps.portals.views.account_email.EmailVerifyPage": "the mailed verification key is the authentication",
    "apps.portals.views.account_email.EmailResendPage": "a new verification link; the same answer for every address",
    "apps.portals.views.account_invitation.InvitationAcceptPage": (
        "the invitation token (and an existing account's password)"
    ),
    "apps.portals.views.account_signup.SignupPage": "self sign-up where the portal's policy is open",
    "apps.portals.views.social.SocialLoginPage": "starting a social sign-in (a POST with CSRF to the provider)",
    "apps.portals.views.social.SocialCompletePage": "a social sign-in's end: the identity proved for this portal",
}

# Tenant views whose authentication differs from the base's bearer, and why.
AUTHENTICATION_EXCEPTIONS: dict[str, str] = {
    "apps.identity.api.mfa_views.TotpSetupView": "docs/api.md: takes the enrolment mfa_token as bearer, or a bearer",
    "apps.identity.api.mfa_views.TotpConfirmView": "docs/api.md: takes the enrolment mfa_token as bearer, or a bearer",
}

FORBIDDEN_OVERRIDES = base.FORBIDDEN_OVERRIDES
BASE_CLASSES = (TenantAPIView, TenantViewSet, PublicAPIView)
_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern and the view answering one (or, for a plain view, every) HTTP method."""

    route: str  # the Django route, e.g. "api/v1/identity/portals/<slug:slug>/"
    name: str | None
    callback: Callable[..., Any]
    dispatch_method: str | None = None  # set when the view answers one method of a MethodDispatch path

    @property
    def path(self) -> str:
        """The route as OpenAPI writes it: `/api/v1/identity/portals/{slug}/` (`{pk}` is shown as `{id}`)."""
        return "/" + _CONVERTER.sub(r"{\1}", self.route).replace("{pk}", "{id}")

    @property
    def view_class(self) -> type | None:
        # DRF's as_view() leaves `cls`; Django's (the portal pages) leaves `view_class`.
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def label(self) -> str:
        target = self.view_class or self.callback
        return f"{target.__module__}.{target.__qualname__}"

    @property
    def methods(self) -> set[str]:
        """HTTP methods this view answers here (OPTIONS and HEAD aside); empty for a plain function."""
        if self.dispatch_method is not None:
            return {self.dispatch_method}
        actions = getattr(self.callback, "actions", None)
        if actions is not None:
            # DRF adds `head` to a viewset's map on its first GET; HEAD follows GET, as everywhere.
            return {method.upper() for method in actions if method not in {"options", "head"}}
        cls = self.view_class
        if cls is None:
            return set()
        return {m.upper() for m in cls.http_method_names if m not in {"options", "head"} and hasattr(cls, m)}


def iter_routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[Route]:
    """Every URL pattern under `config.urls`, through includes; a MethodDispatch path yields one Route per method."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from iter_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            name = pattern.name
            if isinstance(pattern.callback, MethodDispatch):
                for method, view in pattern.callback.views.items():
                    yield Route(route, name, view, dispatch_method=method)
            else:
                yield Route(route, name, pattern.callback)


ROUTES = list(iter_routes())


def _dotted(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _ids(routes: list[Route]) -> list[str]:
    return [f"{r.dispatch_method or 'ANY'} /{r.route}" for r in routes]


def test_the_walker_sees_the_routes_it_should():
    paths = {(r.path, r.dispatch_method) for r in ROUTES}
    assert ("/healthz", None) in paths
    assert ("/api/v1/identity/portals/{slug}/", "GET") in paths
    assert ("/api/v1/identity/portals/{slug}/", "PATCH") in paths
    assert any(r.route.startswith("api/v1/identity/auth/") for r in ROUTES), "includes are walked"


# --------------------------------------------------------------------------- the checks


def portal_page_problems(route: Route, cls: type) -> list[str]:
    """A portal page: under /portal/<slug>/, and either public for a reason or declaring its permission."""
    problems = []
    if not route.route.startswith("portal/<slug:slug>/"):
        problems.append(f"{route.label}: portal pages live under /portal/<slug>/")
    if issubclass(cls, PublicPortalPage):
        if route.label not in PUBLIC_PORTAL_PAGES:
            problems.append(
                f"{route.label} (/{route.route}) is a PublicPortalPage: no sign-in at all. List it in "
                "PUBLIC_PORTAL_PAGES with the reason, or make it a PortalPage with a permission."
            )
        return problems
    permission = getattr(cls, "permission", "")
    if permission != SIGNED_IN:
        try:
            ensure_declared(permission)
        except ImproperlyConfigured as exc:
            problems.append(f"{route.label}: permission {permission!r} is not a declared code ({exc})")
    return problems


def route_problems(route: Route) -> list[str]:
    """Why `route`'s view is not acceptable (empty when it is)."""
    cls = route.view_class
    if cls is not None and issubclass(cls, (PortalPage, PublicPortalPage)):
        return portal_page_problems(route, cls)
    if cls is None or not issubclass(cls, BASE_CLASSES):
        if route.label in PUBLIC_ENDPOINTS:
            return []
        return [
            f"/{route.route} is served by {route.label}, which is neither a TenantAPIView/TenantViewSet nor a "
            "PublicAPIView: use a base class, or list it in PUBLIC_ENDPOINTS with the reason it is public."
        ]
    if issubclass(cls, PublicAPIView):
        if route.label in PUBLIC_API_VIEWS:
            return []
        return [
            f"{route.label} (/{route.route}) is a PublicAPIView: no authentication at all. If docs/api.md makes it "
            "public, list it in PUBLIC_API_VIEWS with the reason; otherwise use TenantAPIView/TenantViewSet."
        ]
    problems = []
    if not route.route.startswith("api/v1/"):
        problems.append(f"{route.label}: bearer views live under /api/v1/")
    required = getattr(cls, "required_permissions", None) or {}
    missing = uncovered_actions(cls)
    if missing:
        problems.append(f"{route.label}: required_permissions lacks {sorted(missing)} (denied to everyone)")
    unknown = set(required) - view_actions(cls) - {"head", "options"}
    if unknown:
        problems.append(f"{route.label}: required_permissions names actions it does not have: {sorted(unknown)}")
    actions = getattr(route.callback, "actions", None) or {}
    unrouted = sorted(action for action in actions.values() if action not in required)
    if unrouted:
        problems.append(f"/{route.route} routes {unrouted}, which required_permissions does not map")
    problems += [
        f"{route.label}.{action}: required_permissions values are sets of permission codes"
        for action, codes in required.items()
        if not isinstance(codes, (set, frozenset))
    ]
    lean, written = set(cls.lean_actions), {a for m, a in actions.items() if m not in {"get", "head", "options"}}
    if lean - set(required) or lean & written or lean - base.LEAN_READ_ACTIONS:  # ADR 0012: mapped reads only
        problems.append(f"{route.label}: lean_actions {sorted(lean)} must be mapped read actions (GET) only")
    return problems


def class_problems(cls: type) -> list[str]:
    """Overrides that would undo what the base classes guarantee."""
    if not issubclass(cls, BASE_CLASSES):
        return []  # service endpoints (PUBLIC_ENDPOINTS): not shaped by our base classes
    problems = []
    for klass in cls.__mro__:
        if klass.__module__ == base.__name__ or klass.__module__.split(".")[0] not in {"apps", "tests"}:
            continue  # the base classes may (that is their job), and so may DRF and Django
        overridden = [name for name in FORBIDDEN_OVERRIDES if name in vars(klass)]
        if overridden:
            problems.append(
                f"{_dotted(klass)} overrides {overridden}: supply scoped_queryset() and required_permissions "
                "instead; the base classes do the scoping and the checks."
            )
    if issubclass(cls, (TenantAPIView, TenantViewSet)):
        if list(cls.permission_classes) != list(base.TenantScopedViewMixin.permission_classes):
            problems.append(f"{_dotted(cls)} changes permission_classes; the RBAC action map is the one check.")
        # The base's (an API key or an access token), or SessionAPIView's (a person's own sign-in: tokens only).
        bases = (base.TenantScopedViewMixin.authentication_classes, base.SessionAPIView.authentication_classes)
        if (
            list(cls.authentication_classes) not in [list(classes) for classes in bases]
            and _dotted(cls) not in AUTHENTICATION_EXCEPTIONS
        ):
            problems.append(
                f"{_dotted(cls)} changes authentication_classes; list it in AUTHENTICATION_EXCEPTIONS with why."
            )
    return problems


# --------------------------------------------------------------------------- the project


@pytest.mark.parametrize("route", ROUTES, ids=_ids(ROUTES))
def test_every_view_stands_on_a_base_class_or_is_public_for_a_reason(route: Route):
    assert route_problems(route) == []


VIEW_CLASSES = sorted({r.view_class for r in ROUTES if r.view_class is not None}, key=_dotted)


@pytest.mark.parametrize("cls", VIEW_CLASSES, ids=[_dotted(c) for c in VIEW_CLASSES])
def test_no_view_overrides_the_scoping_or_the_checks(cls: type):
    assert class_problems(cls) == []


def test_allow_lists_name_only_routed_views():
    routed = {r.label for r in ROUTES}
    for listed in (PUBLIC_ENDPOINTS, PUBLIC_API_VIEWS, PUBLIC_PORTAL_PAGES, AUTHENTICATION_EXCEPTIONS):
        stale = sorted(set(listed) - routed)
        assert stale == [], f"listed but not routed (remove them): {stale}"
    for reason in (
        *PUBLIC_ENDPOINTS.values(),
        *PUBLIC_API_VIEWS.values(),
        *PUBLIC_PORTAL_PAGES.values(),
        *AUTHENTICATION_EXCEPTIONS.values(),
    ):
        assert reason.strip(), "every allow-list entry needs its reason"


def test_method_dispatch_paths_route_each_method_to_a_checked_view():
    dispatched = [r for r in ROUTES if r.dispatch_method is not None]
    assert dispatched, "the portals/{slug}/ path is routed by method"
    for route in dispatched:
        assert route.view_class is not None, route.label
        assert issubclass(route.view_class, BASE_CLASSES), route.label


def test_api_routes_are_named():
    unnamed = [r.route for r in ROUTES if r.route.startswith("api/v1/") and not r.name]
    assert unnamed == []


# --------------------------------------------------------------------------- the walker catches what it should


class _Scoped(TenantAPIView):
    required_permissions = {"get": {"identity.view_member"}}

    def get(self, request: Any) -> Any: ...  # pragma: no cover


class _Unmapped(TenantAPIView):
    required_permissions = {"get": {"identity.view_member"}, "put": {"identity.view_member"}}

    def get(self, request: Any) -> Any: ...  # pragma: no cover

    def delete(self, request: Any) -> Any: ...  # pragma: no cover


class _ListOnly(TenantViewSet):
    required_permissions = {"list": {"identity.view_member"}}

    def list(self, request: Any) -> Any: ...  # pragma: no cover


class _OwnAuth(_Scoped):
    authentication_classes = []


class _QuerysetMixin:
    def get_queryset(self) -> Any: ...  # pragma: no cover


class _Unlisted(PublicAPIView):
    def get(self, request: Any) -> Any: ...  # pragma: no cover


class _Plain(APIView):
    def get(self, request: Any) -> Any: ...  # pragma: no cover


def _route(view: Any, route: str = "api/v1/identity/probe/") -> Route:
    return Route(route, "probe", view)


def test_the_walker_flags_unmapped_and_unknown_actions():
    problems = " ".join(route_problems(_route(_Unmapped.as_view())))
    assert "lacks ['delete']" in problems
    assert "does not have: ['put']" in problems
    assert route_problems(_route(_Scoped.as_view())) == []


def test_the_walker_flags_a_routed_action_without_permissions():
    problems = route_problems(_route(_ListOnly.as_view({"get": "list", "post": "create"})))
    assert any("routes ['create']" in p for p in problems)


def test_an_override_of_the_scoping_or_the_checks_fails_when_the_class_is_defined():
    with pytest.raises(TypeError, match="get_queryset"):

        class _OwnQueryset(TenantViewSet):
            def get_queryset(self) -> Any: ...  # pragma: no cover

    with pytest.raises(TypeError, match="get_queryset"):  # smuggled in through a mixin

        class _Mixed(_QuerysetMixin, TenantViewSet):
            pass

    with pytest.raises(TypeError, match="get_object"):

        class _OwnObject(TenantAPIView):
            def get_object(self) -> Any: ...  # pragma: no cover

    with pytest.raises(TypeError, match="permission_classes"):

        class _OwnPermissions(_Scoped):
            permission_classes = []


def test_the_walker_flags_changed_authentication():
    assert "authentication_classes" in " ".join(class_problems(_OwnAuth))


def test_the_walker_flags_unlisted_public_and_plain_views():
    assert route_problems(_route(_Unlisted.as_view()))
    assert route_problems(_route(_Plain.as_view()))
    assert route_problems(_route(lambda request: None))
    assert route_problems(_route(_Scoped.as_view(), route="portal/x/"))  # bearer views only under /api/v1/


class _UndeclaredPage(PortalPage):
    permission = "identity.no_such_code"


class _UnlistedPublicPage(PublicPortalPage):
    pass


def _portal_route(cls: type, route: str = "portal/<slug:slug>/x/") -> Route:
    return Route(route, "x", cls.as_view())


def test_the_walker_refuses_a_portal_page_with_an_undeclared_permission():
    assert any("not a declared code" in p for p in route_problems(_portal_route(_UndeclaredPage)))


def test_the_walker_refuses_an_unlisted_public_portal_page_and_one_outside_the_portal():
    assert any("PUBLIC_PORTAL_PAGES" in p for p in route_problems(_portal_route(_UnlistedPublicPage)))
    assert any("under /portal/<slug>/" in p for p in route_problems(_portal_route(_UndeclaredPage, "elsewhere/")))


def test_a_portal_page_cannot_take_over_the_checks():
    with pytest.raises(TypeError, match="overrides dispatch"):

        class _Sneaky(PortalPage):  # pragma: no cover - refused when defined
            permission = SIGNED_IN

            def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any: ...
