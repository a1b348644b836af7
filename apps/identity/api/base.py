"""The base classes every API view stands on: they do the scoping so views cannot forget it.

`TenantAPIView` / `TenantViewSet`: bearer authentication (an access token, or
a tenant API key; `SessionAPIView`, a person's own sign-in: tokens only), the
RBAC action map (`required_permissions`; an action missing from it is denied), and the
request's tenant context entered from the token for the whole handler. A view
supplies `scoped_queryset()` and never overrides `get_queryset`,
`get_object`, `get_permissions`, `get_authenticators` or `permission_classes`:
a class that does fails when it is defined (`__init_subclass__`), and the URL
walker test checks every routed view again. `PublicAPIView` is the one other
kind: no authentication, listed by name in the URL walker test.

A view may also declare `required_feature`, a feature code the tenant's plan
must grant (`identity.plugs.has_feature`, which billing answers): without it
every action is 403 `feature_not_in_plan`. The plan is read from the tenant row
on each request, so a plan change shows at the next one.

The handler reads who is calling from the view: `principal` (what the token
says), `tenant` (its id and slug, no query), and — for writes that record who
acted — `tenant_row` and `actor`, each loaded once per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from functools import cached_property
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import BasePagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.common import metering, statement_tenancy
from apps.common.metering import API_CALLS
from apps.common.pagination import PagePagination
from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.acting import ApiKeyPrincipal, acting_through
from apps.identity.api_key_auth import ApiKeyAuthentication
from apps.identity.authentication import BearerAuthentication
from apps.identity.exceptions import FeatureNotInPlan
from apps.identity.models import Tenant, User
from apps.identity.principal import Principal, TenantRef
from apps.identity.rbac.request_checks import ActionPermission
from apps.identity.selectors.tenancy import actor_get, tenant_get

# What the base classes do and a view must not undo: the scoping (querysets, objects) and the checks.
FORBIDDEN_OVERRIDES: tuple[str, ...] = ("get_queryset", "get_object", "get_permissions", "get_authenticators")
_PROJECT_PACKAGES = frozenset({"apps", "config", "tests"})
# The actions a view may serve on the lean read path: a viewset's GET actions, an APIView's `get`.
LEAN_READ_ACTIONS = frozenset({"list", "retrieve", "get"})


class TenantScopedViewMixin:
    """Authentication, permissions and tenant context; mixed into APIView and GenericViewSet."""

    # A tenant API key (`Bearer atr_…`, ADR 0015) or an access token; `SessionAPIView` takes tokens only.
    authentication_classes: Sequence[type[BaseAuthentication]] = [ApiKeyAuthentication, BearerAuthentication]
    permission_classes: Sequence[Any] = [ActionPermission]
    required_permissions: ClassVar[dict[str, set[str]]] = {}
    # Hot reads served without the request transaction (apps.common.statement_tenancy, ADR 0012): the same
    # authentication, permission check, tenant setting and RLS, one round trip per statement. Read actions only.
    lean_actions: ClassVar[frozenset[str]] = frozenset()
    # A feature code the tenant's plan must grant for every action of the view (None: no plan gate).
    required_feature: ClassVar[str | None] = None
    _scope: ExitStack

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return  # the base classes themselves
        for klass in cls.__mro__:
            # The base classes may (that is their job), and so may DRF and Django; a project mixin may not.
            if klass.__module__ == __name__ or klass.__module__.split(".")[0] not in _PROJECT_PACKAGES:
                continue
            overridden = [name for name in FORBIDDEN_OVERRIDES if name in vars(klass)]
            if overridden:
                raise TypeError(
                    f"{cls.__qualname__} overrides {overridden} (in {klass.__qualname__}): supply "
                    "scoped_queryset() and required_permissions instead; the base classes do the scoping "
                    "and the checks."
                )
        writes = set(cls.lean_actions) - LEAN_READ_ACTIONS
        if writes:
            raise TypeError(f"{cls.__qualname__}.lean_actions names {sorted(writes)}: reads only ({LEAN_READ_ACTIONS})")
        if list(cls.permission_classes) != [ActionPermission]:
            raise TypeError(
                f"{cls.__qualname__} changes permission_classes; the RBAC action map (required_permissions) "
                "is the one check."
            )

    # Not inside the request-wide transaction (ATOMIC_REQUESTS): the handler's own transaction opens
    # in `initial`, after authentication and the permission check, with the tenant setting as its first
    # statement. A refused request (401, 403) touches no database at all, and the setting needs no reset:
    # it dies with the transaction it was made in. Errors still roll back: the exception handler marks the
    # transaction (`set_rollback`) before it ends.
    @transaction.non_atomic_requests
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with ExitStack() as scope:
            if transaction.get_connection().in_atomic_block:
                # Called inside a transaction someone else owns (a test's): a savepoint keeps this request's
                # rollback (a refusal, an error) to itself, as its own transaction does in production.
                scope.enter_context(transaction.atomic())
            self._scope = scope
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Authenticated and permitted: from here on every query runs as the token's tenant, in one transaction;
        # or, for a read the view names in `lean_actions`, with the setting in each statement's own round trip.
        if self._lean_read(request):
            self._scope.enter_context(statement_tenancy.tenant_reads(self.principal.tenant))
        else:
            self._scope.enter_context(tenant_context(self.principal.tenant))
        if isinstance(self.principal, ApiKeyPrincipal):
            # Services judge the actor by the key's role and audit events name the key (apps.identity.acting).
            self._scope.enter_context(acting_through(self.principal))
        # Billing's `api_calls` metric: a dict update here, flushed to the cache now and then (apps.common.metering).
        metering.count(API_CALLS, self.principal.tenant_id)
        if self.required_feature is not None and not plugs.has_feature(self.tenant_row, self.required_feature):
            raise FeatureNotInPlan(
                f"Your plan does not include {self.required_feature!r}; move to a plan that does.",
                feature=self.required_feature,
            )

    def _lean_read(self, request: Request) -> bool:
        if not self.lean_actions or request.method not in ("GET", "HEAD"):
            return False
        action = getattr(self, "action", None) or "get"
        return action in self.lean_actions and statement_tenancy.available()

    @property
    def principal(self) -> Principal:
        auth = self.request.auth  # type: ignore[attr-defined]
        assert isinstance(auth, Principal)
        return auth

    @property
    def tenant(self) -> TenantRef:
        """The token's tenant: id and slug, no query."""
        return self.principal.tenant

    @cached_property
    def tenant_row(self) -> Tenant:
        """The calling tenant's row, loaded once per request (404 if it is gone)."""
        return tenant_get(tenant_id=self.principal.tenant_id)

    @cached_property
    def actor(self) -> User:
        """The calling user's row, loaded once per request (403 once the account is deactivated)."""
        return actor_get(user_id=self.principal.user_id)


class TenantAPIView(TenantScopedViewMixin, APIView):
    pass


class SessionAPIView(TenantAPIView):
    """An endpoint about the caller's own sign-in (me, switch, sessions, password, MFA): access tokens only.

    An API key is no person's sign-in, so it never reaches these (401): the structure says so, not a check.
    """

    authentication_classes: Sequence[type[BaseAuthentication]] = [BearerAuthentication]


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
