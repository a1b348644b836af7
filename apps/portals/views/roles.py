"""Roles: the tenant's system and custom roles with their permissions; create, change and delete custom roles.

Every rule is identity's and is the API's (apps/identity/api/roles.py):
`role_list` to read, `roles.role_create` / `role_update` / `role_delete` to
write, with the same arguments the API passes. Which codes are reserved, who
may grant which permission, whether a role is still in use — the services
decide; the pages offer the form to whoever holds `identity.manage_role` and
show the service's refusal on the form, with what to do about it.

A role is named by its code in the URL and looked up only among the system
roles and the current tenant's own: another tenant's code is the 404 page.
Deleting asks first, on a page of its own (no JavaScript needed). The list
pages by cursor (the last role shown), so a page costs the same at any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from apps.common.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied, TooManyRequests
from apps.common.net import client_ip
from apps.identity import rbac
from apps.identity.models import Role, Tenant, User
from apps.identity.permissions import MANAGE_ROLE, VIEW_ROLE
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.selectors import actor_get, role_list
from apps.identity.selectors.tenancy import tenant_get
from apps.identity.services import roles
from apps.portals.base import PortalPage
from apps.portals.views.forms_support import add_service_errors

FEATURE = "custom_roles"
PAGE_SIZE = 20

# What to do, after the service's own words, for each kind of refusal it gives (its `reason`).
_NEXT_STEP = {
    "reserved": "Choose another code.",
    "exists": "Choose another code, or change the existing role instead.",
    "system_role": "Create a custom role with the permissions you need instead.",
    "in_use": "The Members and Invitations pages show who holds it and which invitations offer it.",
}
_NOT_HELD = "Untick them, or ask someone who holds them (an owner) to make this change."


# --------------------------------------------------------------------------- helpers


def permission_catalogue() -> list[tuple[str, str]]:
    """(code, description) of every declared permission, by code: the checkboxes of the role forms."""
    return sorted(rbac.declared_catalogue().permissions.items())


def role_by_code(tenant: Any, code: str) -> Role:
    """A system role or one of the tenant's own, by the code in the URL; anything else is the 404 page."""
    if len(code) > roles.ROLE_CODE_MAX or not roles.ROLE_CODE_RE.match(code):
        raise NotFound("No such role.")  # not even a code: it names nothing
    role: Role | None = role_list(tenant=tenant).filter(code=code).first()
    if role is None:
        raise NotFound("No such role.")
    return role


def refusal_text(exc: ApplicationError) -> str:
    """The service's words, followed by what to do when its `reason` says."""
    step = _NEXT_STEP.get(str(exc.extra.get("reason", "")))
    return f"{exc.detail} {step}" if step else exc.detail


def show_refusal(form: forms.Form, exc: ApplicationError) -> None:
    """The service's refusal on the (bound) form: beside the field it concerns, with what to do."""
    if exc.errors:
        add_service_errors(form, exc)
    elif isinstance(exc, Conflict) and exc.extra.get("reason") in ("reserved", "exists") and "code" in form.fields:
        form.add_error("code", refusal_text(exc))
    elif isinstance(exc, PermissionDenied) and exc.extra.get("missing_permissions") and "permissions" in form.fields:
        form.add_error("permissions", f"{exc.detail} {_NOT_HELD}")
    else:
        form.add_error(None, refusal_text(exc))


class _Writes:
    """What the API's views pass to the services: the tenant row and the acting user, each loaded once."""

    principal: Any

    def writes(self) -> tuple[Tenant, User]:
        return tenant_get(tenant_id=self.principal.tenant_id), actor_get(user_id=self.principal.user_id)


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class RoleRow:
    role: Role
    permissions: list[tuple[str, str]]  # (code, description)


@dataclass(frozen=True)
class RolePage:
    rows: list[RoleRow]
    next_cursor: str
    first: bool


def _cursor_of(role: Role) -> str:
    return f"{0 if role.system else 1}:{role.code}"


def _after(roles_qs: QuerySet[Role], cursor: str) -> QuerySet[Role]:
    """The roles after `cursor` ("<0 system|1 custom>:<code>") in the selector's order; a bad cursor is 404."""
    kind, _, code = cursor.partition(":")
    if kind not in ("0", "1") or len(code) > roles.ROLE_CODE_MAX or not roles.ROLE_CODE_RE.match(code):
        raise NotFound("No such page of roles.")
    custom = int(kind)
    return roles_qs.filter(Q(_custom__gt=custom) | Q(_custom=custom, code__gt=code))


def role_page(tenant: Any, cursor: str) -> RolePage:
    """One page of `role_list` from `cursor` (system roles first, then custom roles, each by code)."""
    queryset = role_list(tenant=tenant)
    if cursor:
        queryset = _after(queryset, cursor)
    found = list(queryset[: PAGE_SIZE + 1])
    shown = found[:PAGE_SIZE]
    described = dict(rbac.declared_catalogue().permissions)
    rows = [
        RoleRow(role=role, permissions=[(code, described.get(code, "")) for code in sorted(role.permissions or [])])
        for role in shown
    ]
    return RolePage(rows=rows, next_cursor=_cursor_of(shown[-1]) if len(found) > PAGE_SIZE else "", first=not cursor)


class RolesPage(PortalPage):
    """The tenant's roles, a page at a time; create, edit and delete links for those who may manage roles."""

    permission = VIEW_ROLE
    feature = FEATURE
    template_name = "portals/roles.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        page = role_page(self.principal.tenant, request.GET.get("cursor", ""))
        return self.render({"page": page, "manage": MANAGE_ROLE in request_permissions(request)})


# --------------------------------------------------------------------------- the forms


class _PermissionsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple


class RoleEditForm(forms.Form):
    name = forms.CharField(label="Name", max_length=roles.ROLE_NAME_MAX, required=False)
    permissions = _PermissionsField(
        label="Permissions",
        required=False,
        help_text="What holders of this role may do. You can grant only permissions you hold yourself.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = permission_catalogue()  # type: ignore[attr-defined]


class RoleCreateForm(RoleEditForm):
    code = forms.CharField(
        label="Code",
        max_length=roles.ROLE_CODE_MAX,
        required=False,
        help_text="Lower-case letters, digits, '-' and '_' (for example: support-agent). It cannot change later.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}),
    )
    field_order = ["code", "name", "permissions"]


class _RoleFormPage(PortalPage, _Writes):
    permission = MANAGE_ROLE
    feature = FEATURE
    template_name = "portals/roles_form.html"

    def form_context(self, form: forms.Form, **extra: Any) -> dict[str, Any]:
        return {"form": form, "held": request_permissions(self.request), **extra}


class RoleCreatePage(_RoleFormPage):
    """GET: the form for a new custom role; POST creates it (`roles.role_create`)."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.form_context(RoleCreateForm(), creating=True))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = RoleCreateForm(request.POST)
        if not form.is_valid():
            return self.render(self.form_context(form, creating=True), status=400)
        tenant, actor = self.writes()
        try:
            role = roles.role_create(
                tenant=tenant,
                actor=actor,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                permissions=form.cleaned_data["permissions"],
                ip=client_ip(request),
            )
        except TooManyRequests:
            raise
        except ApplicationError as exc:
            show_refusal(form, exc)
            return self.render(self.form_context(form, creating=True), status=exc.status)
        messages.success(request, f"Role created: {role.name} ({role.code}).")
        return HttpResponseRedirect(self.url("roles"))


class RoleEditPage(_RoleFormPage):
    """GET: a custom role's name and permissions in a form (a system role is shown, read-only); POST changes it."""

    def get(self, request: HttpRequest, code: str) -> HttpResponseBase:
        role = role_by_code(self.principal.tenant, code)
        form = RoleEditForm(initial={"name": role.name, "permissions": list(role.permissions or [])})
        return self.render(self.form_context(form, role=role))

    def post(self, request: HttpRequest, code: str) -> HttpResponseBase:
        role = role_by_code(self.principal.tenant, code)
        form = RoleEditForm(request.POST)
        if not form.is_valid():
            return self.render(self.form_context(form, role=role), status=400)
        tenant, actor = self.writes()
        try:
            changed = roles.role_update(
                tenant=tenant,
                actor=actor,
                code=role.code,
                name=form.cleaned_data["name"],
                permissions=form.cleaned_data["permissions"],
                ip=client_ip(request),
            )
        except (NotFound, TooManyRequests):
            raise
        except ApplicationError as exc:
            show_refusal(form, exc)
            return self.render(self.form_context(form, role=role), status=exc.status)
        messages.success(request, f"Role saved: {changed.name} ({changed.code}). Its holders have the change now.")
        return HttpResponseRedirect(self.url("roles"))


class RoleDeletePage(PortalPage, _Writes):
    """GET asks "delete this role?"; POST deletes it (`roles.role_delete`: not a system role, not in use)."""

    permission = MANAGE_ROLE
    feature = FEATURE
    template_name = "portals/roles_delete.html"

    def get(self, request: HttpRequest, code: str) -> HttpResponseBase:
        return self.render({"role": role_by_code(self.principal.tenant, code)})

    def post(self, request: HttpRequest, code: str) -> HttpResponseBase:
        role = role_by_code(self.principal.tenant, code)
        tenant, actor = self.writes()
        try:
            roles.role_delete(tenant=tenant, actor=actor, code=role.code, ip=client_ip(request))
        except (NotFound, TooManyRequests):
            raise
        except ApplicationError as exc:
            return self.render({"role": role, "error": refusal_text(exc)}, status=exc.status)
        messages.success(request, f"Role deleted: {role.name} ({role.code}).")
        return HttpResponseRedirect(self.url("roles"))
