"""RBAC at the request: `ActionPermission` on DRF views and viewsets, the request principal, the `can` filter.

An unmapped method or action is denied; a principal counts only in its own tenant's context; templates
ask the same check. Declarations, the role → permissions map and service checks: `test_rbac.py`.
"""

from __future__ import annotations

from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from django.template import engines
from django.test import RequestFactory
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.common.tenancy import tenant_context
from apps.identity.permissions import MANAGE_MEMBER, VIEW_MEMBER
from apps.identity.principal import Principal, TenantRef
from apps.identity.rbac.request_checks import ActionPermission, request_has_permission, request_principal
from apps.identity.rbac.view_coverage import uncovered_actions, view_actions
from apps.identity.tests.rbac_support import (
    DELETE_FILE,
    VIEW_FILE,
    _fresh_rbac_state,  # noqa: F401 - autouse fixture
)


def _principal(tenant_id, role: str) -> Principal:
    """What the bearer authentication leaves on `request.auth` for a member holding `role`."""
    return Principal(
        user_id=uuid4(),
        tenant=TenantRef(id=UUID(str(tenant_id)), slug=""),
        portal="",
        roles=(role,),
        sid=uuid4(),
        jti="",
        amr=("pwd",),
        issued_at=0,
        expires_at=0,
    )


# --------------------------------------------------------------------------- DRF


class HeaderAuthentication(BaseAuthentication):
    """Stands in for the JWT layer: it leaves a principal on `request.auth`."""

    def authenticate(self, request):
        role = request.META.get("HTTP_X_ROLE")
        if role is None:
            return None
        principal = _principal(request.META["HTTP_X_TENANT"], role)
        return SimpleNamespace(is_authenticated=True), principal

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class MembersView(APIView):
    authentication_classes = [HeaderAuthentication]
    permission_classes = [ActionPermission]
    required_permissions = {"get": {VIEW_MEMBER}, "post": {MANAGE_MEMBER}}

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})

    def delete(self, request):  # deliberately missing from required_permissions
        return Response(status=204)


class FileViewSet(viewsets.ViewSet):
    authentication_classes = [HeaderAuthentication]
    permission_classes = [ActionPermission]
    required_permissions = {"list": {VIEW_FILE}, "destroy": {DELETE_FILE}}

    def list(self, request):
        return Response([])

    def destroy(self, request, pk=None):
        return Response(status=204)

    @action(detail=False, methods=["post"])
    def export(self, request):  # deliberately missing from required_permissions
        return Response({})


def _call(view, method: str, *, tenant=None, role: str | None = None, path: str = "/x/"):
    headers = {} if role is None else {"HTTP_X_ROLE": role, "HTTP_X_TENANT": str(tenant.id)}
    request = getattr(APIRequestFactory(), method)(path, **headers)
    return view(request)


def test_api_view_checks_the_method_s_codes(seeded, tenant):
    view = MembersView.as_view()
    assert _call(view, "get", tenant=tenant, role="member").status_code == 200
    assert _call(view, "post", tenant=tenant, role="admin").status_code == 200
    denied = _call(view, "post", tenant=tenant, role="member")
    assert denied.status_code == 403
    assert MANAGE_MEMBER in denied.data["detail"]


def test_api_view_denies_a_method_missing_from_the_map(seeded, tenant):
    assert _call(MembersView.as_view(), "delete", tenant=tenant, role="owner").status_code == 403


def test_head_follows_get_and_unhandled_methods_are_405(seeded, tenant):
    view = MembersView.as_view()
    assert _call(view, "head", tenant=tenant, role="member").status_code == 200
    assert _call(view, "put", tenant=tenant, role="owner").status_code == 405


def test_no_principal_is_401(seeded):
    assert _call(MembersView.as_view(), "get").status_code == 401


def test_viewset_checks_the_action_s_codes_and_denies_unmapped_actions(seeded, tenant):
    assert _call(FileViewSet.as_view({"get": "list"}), "get", tenant=tenant, role="member").status_code == 200
    destroy = FileViewSet.as_view({"delete": "destroy"})
    assert _call(destroy, "delete", tenant=tenant, role="member").status_code == 403
    assert _call(destroy, "delete", tenant=tenant, role="admin").status_code == 204
    export = FileViewSet.as_view({"post": "export"})
    assert _call(export, "post", tenant=tenant, role="owner").status_code == 403


def test_a_view_without_a_map_denies_everything(seeded, tenant):
    class Unmapped(MembersView):
        required_permissions = None

    assert _call(Unmapped.as_view(), "get", tenant=tenant, role="owner").status_code == 403


def test_coverage_helpers_name_the_unmapped_actions():
    assert view_actions(MembersView) == {"get", "post", "delete"}
    assert uncovered_actions(MembersView) == {"delete"}
    assert view_actions(FileViewSet) == {"list", "destroy", "export"}
    assert uncovered_actions(FileViewSet) == {"export"}


def test_a_principal_of_another_tenant_than_the_context_holds_nothing(seeded, tenant, other_tenant):
    request = RequestFactory().get("/")
    request.auth = _principal(tenant.id, "owner")
    assert request_has_permission(request, VIEW_MEMBER)
    with tenant_context(other_tenant):
        assert not request_has_permission(request, VIEW_MEMBER)


def test_an_auth_that_is_not_a_principal_holds_nothing(seeded, tenant):
    request = RequestFactory().get("/")
    request.auth = SimpleNamespace(tenant_id=tenant.id, roles=("owner",), rbac_version=None)
    assert request_principal(request) is None
    assert not request_has_permission(request, VIEW_MEMBER)


# --------------------------------------------------------------------------- templates

TEMPLATE = '{% load rbac %}{% if request|can:"billing.view_invoice" %}invoices{% else %}none{% endif %}'


@pytest.mark.parametrize(("role", "shown"), [("owner", "invoices"), ("admin", "invoices"), ("member", "none")])
def test_template_filter_uses_the_same_check(seeded, tenant, role, shown):
    request = RequestFactory().get("/")
    request.auth = _principal(tenant.id, role)
    assert engines["django"].from_string(TEMPLATE).render({"request": request}) == shown


def test_template_filter_without_a_principal_or_request_says_no(seeded):
    template = engines["django"].from_string(TEMPLATE)
    assert template.render({"request": RequestFactory().get("/")}) == "none"
    assert template.render({}) == "none"
