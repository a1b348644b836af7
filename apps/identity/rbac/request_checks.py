"""Checks against the request's principal: the DRF permission class and the request helpers.

- DRF: `ActionPermission` reads `view.required_permissions` (action → codes;
  the action is the viewset action, or the lower-case HTTP method for an
  `APIView`). An action missing from the map is denied.
- Templates: `{% load rbac %}{% if request|can:"billing.view_invoice" %}`
  (`request_has_permission`).

The principal is `apps.identity.principal.Principal`, which the bearer
authentication leaves on `request.auth` (DRF's `Request.auth` setter also sets
it on the underlying `HttpRequest`, so templates see the same principal). It
carries the RBAC version fetched together with the revocation keys, so the
check reads no cache key of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin

from apps.common.tenancy import current_tenant
from apps.identity.principal import Principal
from apps.identity.rbac.catalogue import ensure_declared
from apps.identity.rbac.role_map import permissions_for

logger = logging.getLogger("atrium.rbac")


def request_principal(request: Request | Any) -> Principal | None:
    """The principal on `request.auth`, or None (anonymous, or another kind of auth)."""

    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else None


def request_permissions(request: Request | Any) -> frozenset[str]:
    """Every code the request's principal holds; empty when there is none.

    Defence in depth: a principal of another tenant than the current context
    holds nothing here (the authentication layer should already have refused).
    """
    principal = request_principal(request)
    if principal is None:
        return frozenset()
    active = current_tenant()
    if active is not None and str(active.id) != str(principal.tenant_id):
        return frozenset()
    return permissions_for(tenant_id=principal.tenant_id, roles=principal.roles, version=principal.rbac_version)


def request_has_permission(request: Request | Any, code: str) -> bool:
    """Whether the request's principal holds `code` (the template filter `can` uses this)."""
    ensure_declared(code)
    return code in request_permissions(request)


class ActionPermission(BasePermission):
    """DRF permission: `view.required_permissions[action]` must all be held; unlisted actions are denied.

    `required_permissions: dict[str, set[str]]` maps the viewset action (or, on
    an `APIView`, the lower-case HTTP method; HEAD falls back to GET) to the
    codes it needs, all of them. An empty set admits any principal of the
    tenant. A method the view does not handle passes here so DRF answers 405.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        method = (request.method or "").lower()
        if method not in view.http_method_names or getattr(view, method, None) is None:
            return True  # no handler: DRF's 405 follows, no data is reachable
        action = _action_of(request, view, method)
        required: Mapping[str, Iterable[str]] | None = getattr(view, "required_permissions", None)
        if required is None or action not in required:
            # Deny by default, and say why in the log: the view's map is incomplete.
            logger.warning(
                "rbac.action_unmapped",
                extra={"view": type(view).__qualname__, "action": action},
            )
            return False
        codes = set(required[action])
        for code in codes:
            ensure_declared(code)
        if request_principal(request) is None:
            return False
        missing = codes - request_permissions(request)
        if missing:
            self.message = f"This needs the permission {', '.join(sorted(missing))}."
            return False
        return True


def _action_of(request: Request, view: APIView, method: str) -> str:
    if isinstance(view, ViewSetMixin):
        return str(getattr(view, "action", None) or method)
    required = getattr(view, "required_permissions", None) or {}
    if method == "head" and "head" not in required:
        return "get"
    return method
