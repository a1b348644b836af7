"""API keys: the tenant's keys a page at a time, create one (the key shown once), revoke one.

Every rule is identity's and is the API's (apps/identity/api/api_keys.py):
`api_key_list` with the API's cursor paging to read, `api_keys.api_key_create`
and `api_key_revoke` to write, with the same arguments, and
`api_key_status` for active / expired / revoked. Which role a key may act with
(never more than its creator holds, `owner` only from an owner) is the service's
rule: the form offers every role of the tenant and shows the refusal beside it.

The whole key exists only in the answer to the POST that made it: a page of its
own with `Cache-Control: no-store`, never a redirect, a URL, a message kept in
the session or a log line; the list shows its prefix only. Revoking asks first,
on a page of its own (no JavaScript needed). Another tenant's key id is 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from apps.billing.catalogue import FEATURE_API_KEYS
from apps.common.exceptions import ApplicationError, NotFound, PermissionDenied, TooManyRequests
from apps.common.net import client_ip
from apps.identity.models import ApiKey
from apps.identity.permissions import MANAGE_API_KEY
from apps.identity.selectors import role_list
from apps.identity.selectors.api_keys import api_key_list, api_key_status
from apps.identity.services import api_keys
from apps.portals.base import PortalPage
from apps.portals.views.forms_support import add_service_errors, parse_id
from apps.portals.views.integrations_support import TenantWrites, cursor_listing, shown_once

_NOT_YOURS = "Choose a role whose permissions you hold yourself (only an owner gives a key the owner role)."


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=api_keys.NAME_MAX,
        required=False,
        help_text="What the key is for, so you know it in the list (for example: CRM sync).",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Role",
        help_text="The key acts with this role's permissions, never more than you hold yourself.",
    )
    expires_at = forms.DateField(
        label="Expires after (optional)",
        required=False,
        help_text="The key works until the end of this day (UTC). Leave empty for a key that does not expire.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles  # type: ignore[attr-defined]
        if "member" in dict(roles):
            self.fields["role"].initial = "member"

    def expiry(self) -> datetime | None:
        """The end of the chosen day in UTC (no date arithmetic that could overflow), or None."""
        day = self.cleaned_data.get("expires_at")
        return datetime.combine(day, time.max, tzinfo=UTC) if day else None


def show_refusal(form: ApiKeyForm, exc: ApplicationError) -> None:
    """The service's refusal beside the field it concerns; a role the actor may not give, on the role."""
    if exc.errors:
        add_service_errors(form, exc)
    elif isinstance(exc, PermissionDenied):
        form.add_error("role", f"{exc.detail} {_NOT_YOURS}")
    else:
        form.add_error(None, exc.detail)


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    status: str  # active, expired or revoked (`api_key_status`)
    role_name: str


class ApiKeysPage(PortalPage, TenantWrites):
    """GET: the tenant's keys, newest first, and the form for a new one; POST makes it and shows it once."""

    permission = MANAGE_API_KEY
    feature = FEATURE_API_KEYS
    template_name = "portals/api_keys.html"

    def roles(self) -> list[tuple[str, str]]:
        return [(role.code, role.name) for role in role_list(tenant=self.principal.tenant)]

    def context(self, form: ApiKeyForm, roles: list[tuple[str, str]]) -> dict[str, Any]:
        listing = cursor_listing(self.request, api_key_list(tenant=self.principal.tenant), base=self.url("api-keys"))
        names = dict(roles)
        rows = [KeyRow(key=k, status=api_key_status(k), role_name=names.get(k.role_code, "")) for k in listing.rows]
        return {"form": form, "listing": listing, "rows": rows}

    def get(self, request: HttpRequest) -> HttpResponseBase:
        roles = self.roles()
        return self.render(self.context(ApiKeyForm(roles=roles), roles))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        roles = self.roles()
        form = ApiKeyForm(request.POST, roles=roles)
        if not form.is_valid():
            return self.render(self.context(form, roles), status=400)
        tenant, actor = self.writes()
        try:
            key, full_key = api_keys.api_key_create(
                tenant=tenant,
                actor=actor,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                expires_at=form.expiry(),
                ip=client_ip(request),
            )
        except TooManyRequests:
            raise
        except ApplicationError as exc:
            show_refusal(form, exc)
            return self.render(self.context(form, roles), status=exc.status)
        context = {"key": key, "full_key": full_key, "role_name": dict(roles).get(key.role_code, key.role_code)}
        return shown_once(self.render(context, template="portals/api_keys_created.html"))


class ApiKeyRevokePage(PortalPage, TenantWrites):
    """GET asks "revoke this key?"; POST revokes it (`api_keys.api_key_revoke`: refused from its next request)."""

    permission = MANAGE_API_KEY
    feature = FEATURE_API_KEYS
    template_name = "portals/api_keys_revoke.html"

    def target(self, key_id: str) -> ApiKey:
        wanted = parse_id(key_id, what="API key")
        key: ApiKey | None = api_key_list(tenant=self.principal.tenant).filter(id=wanted).first()
        if key is None:
            raise NotFound("No such API key.")
        return key

    def get(self, request: HttpRequest, key_id: str) -> HttpResponseBase:
        key = self.target(key_id)
        return self.render({"key": key, "status": api_key_status(key)})

    def post(self, request: HttpRequest, key_id: str) -> HttpResponseBase:
        key = self.target(key_id)
        tenant, actor = self.writes()
        api_keys.api_key_revoke(tenant=tenant, actor=actor, key_id=key.id, ip=client_ip(request))
        messages.success(request, f"API key revoked: {key.name} (atr_{key.prefix}_…) is refused from now on.")
        return HttpResponseRedirect(self.url("api-keys"))
