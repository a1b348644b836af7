"""Identity API views. Thin: parse, call one service or selector, render.

Also `MethodDispatch`, which routes one path's HTTP methods to different views
(GET `portals/{slug}/` is public, PATCH is tenant administration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import problems
from apps.common.errors import problem_response
from apps.identity import selectors
from apps.identity.api.base import PublicAPIView
from apps.identity.api.serializers import PortalPublicOutputSerializer
from apps.identity.models import DEFAULT_THEME


class PortalPublicView(PublicAPIView):
    """Public metadata of a portal: what its login page needs before anyone signs in."""

    @extend_schema(
        operation_id="identity_portal_public",
        responses={200: PortalPublicOutputSerializer, **problems(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        portal = selectors.portal_get_public(slug=slug)
        theme = {**DEFAULT_THEME, **(portal.theme or {})}
        data = {
            "slug": portal.slug,
            "name": portal.name,
            "tenant": {"slug": portal.tenant.slug, "name": portal.tenant.name},
            "theme": {"primary_color": theme["primary_color"], "logo_url": theme["logo_url"]},
            "features": {k: bool(v) for k, v in (portal.features or {}).items() if isinstance(v, bool)},
            "login_methods": selectors.portal_login_methods(portal=portal),
            "signup_policy": portal.signup_policy,
            "mfa_required": portal.mfa_required,
        }
        return Response(PortalPublicOutputSerializer(data).data)


# --------------------------------------------------------------------------- one path, one view per method


class _DispatchSchema(AutoSchema):
    """Documents each method of a `MethodDispatch` path from the view that answers it.

    The generator builds the dispatch stand-in (`_MethodDispatchView`) for each
    method; this builds the answering view the way the generator builds any
    other route's and asks its own schema, so authentication, serializers and
    `extend_schema` come out exactly as if that view had the path to itself.
    """

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: ComponentRegistry
    ) -> dict[str, Any] | None:
        assert isinstance(self.view, _MethodDispatchView)
        callback = self.view.callbacks[method.upper()]
        generator = SchemaGenerator()  # kept alive here: the view's schema is held by it (a weak proxy)
        view = generator.create_view(callback, method)
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        schema = view.schema
        schema.registry = registry
        schema.path = path
        schema.path_regex = path_regex
        schema.path_prefix = path_prefix
        schema.method = method.upper()
        operation: dict[str, Any] | None = schema.get_operation(path, path_regex, path_prefix, method, registry)
        return operation


class _MethodDispatchView(APIView):
    """What schema generators see of a `MethodDispatch`: never serves a request."""

    callbacks: ClassVar[dict[str, Callable[..., HttpResponseBase]]] = {}
    schema = _DispatchSchema()

    @property
    def allowed_methods(self) -> list[str]:
        return list(self.callbacks)


def _never_called(*args: Any, **kwargs: Any) -> HttpResponseBase:
    raise AssertionError("MethodDispatch routes requests itself; this handler only exists for schema generators.")


def _atomic_as_django_would(
    view: Callable[..., HttpResponseBase], aliases: set[str]
) -> Callable[..., HttpResponseBase]:
    """`view` in the request transaction of each database in `aliases` it did not opt out of."""
    own: set[str] = getattr(view, "_non_atomic_requests", set())
    for alias in sorted(aliases - own):
        if connections.settings[alias]["ATOMIC_REQUESTS"]:
            view = transaction.atomic(using=alias)(view)
    return view


class MethodDispatch:
    """A URL callback that hands each HTTP method to its own view.

    `path("portals/<slug:slug>/", MethodDispatch(GET=PortalPublicView.as_view(),
    PATCH=PortalViewSet.as_view({"patch": "partial_update"})))`: for a path that
    docs/api.md makes both a public read and an authenticated write. Each view keeps
    its own base class (authentication, permissions, tenant context); nothing
    is decided here but which view answers. HEAD follows GET; OPTIONS goes to
    the first view, with an `Allow` header naming every method; any other
    method is 405 problem+json. Django reads the non-atomic mark from the URL's
    callback (this object), not from the views: so when a view carries it (the
    tenant views do, they open their own transaction), this object carries it
    too, and each view without it is wrapped in the transaction Django would
    have given it (`ATOMIC_REQUESTS`).

    The URL walker checks each of `views` like a route of its own; `cls` and
    `initkwargs` let schema generators find the path and document each method
    from its view (`_DispatchSchema`).
    """

    csrf_exempt = True  # each view is a DRF view, exempt as they all are: bearer tokens, no cookies

    def __init__(self, **views: Callable[..., HttpResponseBase]) -> None:
        if not views:
            raise ImproperlyConfigured("MethodDispatch needs at least one method.")
        non_atomic: set[str] = set().union(*(getattr(view, "_non_atomic_requests", set()) for view in views.values()))
        if non_atomic:
            self._non_atomic_requests = non_atomic
            views = {method: _atomic_as_django_would(view, non_atomic) for method, view in views.items()}
        self.views = {method.upper(): view for method, view in views.items()}
        self.allow = ", ".join([*self.views, *(["HEAD"] if "GET" in self.views else []), "OPTIONS"])
        handlers = {method.lower(): _never_called for method in self.views}
        self.cls = type("MethodDispatchView", (_MethodDispatchView,), {"callbacks": self.views, **handlers})
        self.initkwargs: dict[str, Any] = {}
        self.__name__ = self.__qualname__ = type(self).__name__
        self.__module__ = __name__

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = request.method or ""
        if method == "OPTIONS":
            view: Callable[..., HttpResponseBase] | None = next(iter(self.views.values()))
        else:
            view = self.views.get("GET" if method == "HEAD" else method)
        if view is None:
            response: HttpResponseBase = problem_response(
                405, code="method_not_allowed", detail="This method is not allowed here; see the Allow header."
            )
        else:
            response = view(request, *args, **kwargs)
        if view is None or method == "OPTIONS":
            response["Allow"] = self.allow
        return response
