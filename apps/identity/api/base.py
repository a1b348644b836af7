"""The base classes every API view stands on: they do the scoping so views cannot forget it.

`TenantAPIView` / `TenantViewSet`: bearer authentication, the RBAC action map
(`required_permissions`; an action missing from it is denied), and the
request's tenant context entered from the token for the whole handler. A view
supplies `scoped_queryset()` and never overrides `get_queryset`,
`get_object` or `get_permissions`. `PublicAPIView` is the one other kind: no
authentication, listed by name in the URL walker test.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import BasePagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.common.pagination import PagePagination
from apps.common.tenancy import tenant_context
from apps.identity.authentication import BearerAuthentication, Principal, TenantRef
from apps.identity.rbac import ActionPermission


class TenantScopedViewMixin:
    """Authentication, permissions and tenant context; mixed into APIView and GenericViewSet."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [BearerAuthentication]
    permission_classes: Sequence[Any] = [ActionPermission]
    required_permissions: ClassVar[dict[str, set[str]]] = {}
    _scope: ExitStack

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with ExitStack() as scope:
            self._scope = scope
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Authenticated and permitted: from here on every query runs as the token's tenant.
        self._scope.enter_context(tenant_context(self.principal.tenant))

    @property
    def principal(self) -> Principal:
        auth = self.request.auth  # type: ignore[attr-defined]
        assert isinstance(auth, Principal)
        return auth

    @property
    def tenant(self) -> TenantRef:
        return self.principal.tenant


class TenantAPIView(TenantScopedViewMixin, APIView):
    pass


class TenantViewSet(TenantScopedViewMixin, viewsets.GenericViewSet):
    pagination_class: type[BasePagination] | None = PagePagination

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError("A TenantViewSet supplies scoped_queryset().")

    def get_queryset(self) -> QuerySet[Any]:
        # The queryset is the tenant's own, so `get_object` finds no other tenant's id (404).
        return self.scoped_queryset()


class PublicAPIView(APIView):
    """No authentication: for endpoints docs/api.md marks public (login, portal metadata, ...)."""

    authentication_classes: Sequence[type[BaseAuthentication]] = []
    permission_classes: Sequence[Any] = [AllowAny]
