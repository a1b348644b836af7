"""Members and invitations: list the tenant's members, change a role, remove; invite, list and revoke invitations.

Every rule is identity's and is the API's (apps/identity/api/members.py,
invitations.py): `membership_list` / `invitation_list` / `role_list` to read,
`members.membership_change_role` / `membership_remove` and
`invitations.invitation_create` / `invitation_revoke` to write, with the same
arguments the API passes. Who may grant or touch what (owners, the last owner,
seats) is decided inside those services, so the pages offer the actions to
whoever holds the permission and show the service's answer when it refuses.

Ids come from the URL and are looked up only in the current tenant (the scoped
selectors and services): another tenant's id, or no id at all, is the 404 page.
Removing and revoking ask first, on a page of their own (no JavaScript needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from apps.common.csv_export import csv_response
from apps.common.exceptions import ApplicationError, NotFound, TooManyRequests
from apps.common.net import client_ip
from apps.identity.models import Invitation, Membership, Tenant, User
from apps.identity.permissions import INVITE_MEMBER, MANAGE_MEMBER, VIEW_MEMBER
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.selectors import actor_get, invitation_display_status, invitation_list, membership_list, role_list
from apps.identity.selectors.tenancy import tenant_get
from apps.identity.services import invitations, members
from apps.portals.base import PortalPage
from apps.portals.views.forms_support import add_service_errors, parse_id

PAGE_SIZE = 20
MAX_PAGE = 100_000


# --------------------------------------------------------------------------- helpers


def page_number(request: HttpRequest) -> int:
    try:
        return min(max(1, int(request.GET.get("page", 1))), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True)
class Paged:
    rows: list[Any]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def paged(queryset: QuerySet[Any], number: int, size: int = PAGE_SIZE) -> Paged:
    """One page of `queryset` with no COUNT: one row more than the page tells whether there is a next one."""
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return Paged(rows=rows[:size], number=number, has_next=len(rows) > size)


def role_choices(tenant: Any) -> list[tuple[str, str]]:
    return [(role.code, role.name) for role in role_list(tenant=tenant)]


class _TenantWrites:
    """What the API's views pass to the services: the tenant row and the acting user, each loaded once."""

    principal: Any

    def writes(self) -> tuple[Tenant, User]:
        return tenant_get(tenant_id=self.principal.tenant_id), actor_get(user_id=self.principal.user_id)


# --------------------------------------------------------------------------- members


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = choices  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    form: RoleForm | None


class MembersPage(PortalPage):
    """The tenant's members, a page at a time; change role and remove for those who may manage members."""

    permission = VIEW_MEMBER
    template_name = "portals/members.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.members_context(request))

    def members_context(
        self, request: HttpRequest, *, failed: tuple[UUID, RoleForm] | None = None, number: int | None = None
    ) -> dict[str, Any]:
        tenant = self.principal.tenant
        page = paged(membership_list(tenant=tenant), number or page_number(request))
        manage = MANAGE_MEMBER in _held(request)
        choices = role_choices(tenant) if manage else []
        rows = []
        for membership in page.rows:
            form = None
            if manage:
                if failed is not None and failed[0] == membership.id:
                    form = failed[1]
                else:
                    form = RoleForm(
                        choices=choices, initial={"role": membership.role.code}, auto_id=f"id_%s_{membership.id}"
                    )
            rows.append(MemberRow(membership=membership, form=form))
        return {"page": page, "rows": rows, "manage": manage, "invite": INVITE_MEMBER in _held(request)}


def _held(request: HttpRequest) -> frozenset[str]:
    return request_permissions(request)


CSV_HEADER = ("Name", "Email", "Role", "Status", "Member since")


class MembersCsvPage(PortalPage):
    """`members.csv`: every member as a CSV download, for whoever may see the members page.

    Read through the same selector as the page; written through `apps.common.csv_export`, which
    keeps a name such as `=HYPERLINK(...)` text in the admin's spreadsheet.
    """

    permission = VIEW_MEMBER
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponseBase:
        rows = (
            (m.user.name, m.user.email, m.role.name, m.get_status_display(), m.created_at.isoformat())
            for m in membership_list(tenant=self.principal.tenant).iterator(chunk_size=500)
        )
        return csv_response(f"{self.portal.slug}-members", CSV_HEADER, rows)


class MemberRolePage(MembersPage, _TenantWrites):
    """POST: give a member another role (their sessions in the tenant end, as through the API)."""

    permission = MANAGE_MEMBER
    http_method_names = ["post"]

    def post(self, request: HttpRequest, membership_id: str) -> HttpResponseBase:
        target = parse_id(membership_id, what="member")
        number = page_number(request)
        form = RoleForm(request.POST, choices=role_choices(self.principal.tenant), auto_id=f"id_%s_{target}")
        if form.is_valid():
            tenant, actor = self.writes()
            try:
                membership = members.membership_change_role(
                    tenant=tenant,
                    actor=actor,
                    membership_id=target,
                    role=form.cleaned_data["role"],
                    ip=client_ip(request),
                )
            except (NotFound, TooManyRequests):
                raise
            except ApplicationError as exc:
                add_service_errors(form, exc)
                return self.render(
                    self.members_context(request, failed=(target, form), number=number), status=exc.status
                )
            messages.success(request, f"Role changed: {membership.user.email} is now {membership.role.name}.")
            return HttpResponseRedirect(self.url("members", page=str(number)) if number > 1 else self.url("members"))
        if not membership_list(tenant=self.principal.tenant).filter(id=target).exists():
            raise NotFound("No such member.")
        return self.render(self.members_context(request, failed=(target, form), number=number), status=400)


class MemberRemovePage(PortalPage, _TenantWrites):
    """GET asks "remove this member?"; POST removes (only an owner removes an owner; the last owner stays)."""

    permission = MANAGE_MEMBER
    template_name = "portals/members_remove.html"

    def target(self, membership_id: str) -> Membership:
        target = parse_id(membership_id, what="member")
        membership: Membership | None = membership_list(tenant=self.principal.tenant).filter(id=target).first()
        if membership is None:
            raise NotFound("No such member.")
        return membership

    def get(self, request: HttpRequest, membership_id: str) -> HttpResponseBase:
        return self.render({"membership": self.target(membership_id)})

    def post(self, request: HttpRequest, membership_id: str) -> HttpResponseBase:
        membership = self.target(membership_id)
        tenant, actor = self.writes()
        try:
            members.membership_remove(tenant=tenant, actor=actor, membership_id=membership.id, ip=client_ip(request))
        except (NotFound, TooManyRequests):
            raise
        except ApplicationError as exc:
            return self.render({"membership": membership, "error": exc.detail}, status=exc.status)
        messages.success(request, f"Member removed: {membership.user.email} is no longer a member.")
        return HttpResponseRedirect(self.url("members"))


# --------------------------------------------------------------------------- invitations


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = choices  # type: ignore[attr-defined]
        if "member" in dict(choices):
            self.fields["role"].initial = "member"


@dataclass(frozen=True)
class InvitationRow:
    invitation: Invitation
    status: str


class InvitationsPage(PortalPage, _TenantWrites):
    """The tenant's open invitations and the form to invite someone (the mail goes out with a link)."""

    permission = INVITE_MEMBER
    template_name = "portals/members_invitations.html"

    def context(self, request: HttpRequest, form: InviteForm) -> dict[str, Any]:
        page = paged(invitation_list(tenant=self.principal.tenant), page_number(request))
        rows = [InvitationRow(invitation=i, status=invitation_display_status(i)) for i in page.rows]
        return {"form": form, "page": page, "rows": rows}

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.context(request, InviteForm(choices=role_choices(self.principal.tenant))))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = InviteForm(request.POST, choices=role_choices(self.principal.tenant))
        if not form.is_valid():
            return self.render(self.context(request, form), status=400)
        tenant, actor = self.writes()
        try:
            invitation = invitations.invitation_create(
                tenant=tenant,
                actor=actor,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                ip=client_ip(request),
            )
        except TooManyRequests:
            raise
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.context(request, form), status=exc.status)
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return HttpResponseRedirect(self.url("invitations"))


class InvitationRevokePage(PortalPage, _TenantWrites):
    """GET asks "revoke this invitation?"; POST revokes it (its link stops working at once)."""

    permission = INVITE_MEMBER
    template_name = "portals/members_invitation_revoke.html"

    def target(self, invitation_id: str) -> Invitation:
        target = parse_id(invitation_id, what="open invitation")
        invitation: Invitation | None = invitation_list(tenant=self.principal.tenant).filter(id=target).first()
        if invitation is None:
            raise NotFound("No such open invitation.")
        return invitation

    def get(self, request: HttpRequest, invitation_id: str) -> HttpResponseBase:
        return self.render({"invitation": self.target(invitation_id)})

    def post(self, request: HttpRequest, invitation_id: str) -> HttpResponseBase:
        invitation = self.target(invitation_id)
        tenant, actor = self.writes()
        invitations.invitation_revoke(tenant=tenant, actor=actor, invitation_id=invitation.id, ip=client_ip(request))
        messages.success(request, f"Invitation revoked: the link sent to {invitation.email} no longer works.")
        return HttpResponseRedirect(self.url("invitations"))
