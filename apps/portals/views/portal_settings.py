"""Portal settings: the name, theme, admitted roles, sign-up policy, MFA and feature flags of *this* portal.

Every rule is identity's and is the API's (PATCH /api/v1/identity/portals/{slug}/,
apps/identity/api/portals.py): the form only parses, and
`portals.portal_change` — what the API's `portal_update` calls — checks and
saves. As the API does, a field that does not even parse is passed to the
service as `rejected`, so one answer names every problem, each beside its
field. The slug is not offered: it is in every link already sent and in the
signed-in sessions, and the service refuses to change it anyway.

Feature flags only switch a page off (`features: {code: false}`); the flags
shown are those the portal's pages declare (`navigation.page_requirements`)
plus any the portal already has. A change that takes access away ends the
sessions it concerns at once (the service's rule); the page says how many.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from apps.common.exceptions import ApplicationError, NotFound, TooManyRequests
from apps.common.net import client_ip
from apps.identity import plugs
from apps.identity.models import Portal
from apps.identity.permissions import MANAGE_PORTAL
from apps.identity.selectors import actor_get, portal_view, role_list
from apps.identity.selectors.tenancy import tenant_get
from apps.identity.services import portals
from apps.identity.services.portal_fields import MAX_LOGO_URL, MAX_NAME, PortalFields
from apps.portals.base import PortalPage
from apps.portals.navigation import ENTRIES, page_requirements

# The service names theme problems `theme.<key>`; the form has the keys as fields of their own.
_SERVICE_FIELD = {"primary_color": "theme.primary_color", "logo_url": "theme.logo_url"}
_FORM_FIELD = {service: field for field, service in _SERVICE_FIELD.items()}


class ColorInput(forms.TextInput):
    input_type = "color"


class _Checkboxes(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple


def page_flags() -> dict[str, list[str]]:
    """Feature code → the navigation labels of the pages that declare it, in navigation order."""
    flags: dict[str, list[str]] = {}
    for label, name in ENTRIES:
        feature = page_requirements(name)[1]
        if feature:
            flags.setdefault(feature, []).append(label)
    return flags


def flag_choices(current: Iterable[str]) -> list[tuple[str, str]]:
    """The pages' flags, then the portal's other flags: (code, "Pages (code)")."""
    flags = page_flags()
    for code in current:
        flags.setdefault(code, [])
    return [(code, f"{', '.join(labels)} ({code})" if labels else code) for code, labels in flags.items()]


class SettingsForm(forms.Form):
    name = forms.CharField(label="Portal name", max_length=MAX_NAME, required=False)
    primary_color = forms.CharField(
        label="Primary colour",
        max_length=7,
        required=False,
        widget=ColorInput(attrs={"data-theme-preview": "theme-preview"}),
        help_text="The colour of the header bar and the buttons.",
    )
    logo_url = forms.CharField(
        label="Logo URL",
        max_length=MAX_LOGO_URL,
        required=False,
        widget=forms.URLInput(attrs={"autocomplete": "off", "placeholder": "https://"}),
        help_text="An https:// address of a square image, or empty for none.",
    )
    admitted_roles = _Checkboxes(
        label="Who may sign in here",
        required=False,
        help_text=(
            "Members whose role is not ticked cannot sign in to this portal; "
            "their sessions here end at once (yours too, if you untick your own role)."
        ),
    )
    signup_policy = forms.ChoiceField(
        label="Sign-up",
        choices=Portal.SignupPolicy.choices,
        widget=forms.RadioSelect,
        help_text="Closed: nobody joins here. Invite: only with an invitation. Open: anyone may sign up.",
    )
    mfa_required = forms.BooleanField(
        label="Require two-factor sign-in",
        required=False,
        help_text=(
            "Sessions that signed in without a code end at once (yours too, if you did); "
            "members without two-factor sign-in set it up when they next sign in."
        ),
    )
    features = _Checkboxes(
        label="Pages switched on",
        required=False,
        help_text="Untick to hide a page from this portal. A page your plan does not include stays hidden.",
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], flags: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["admitted_roles"].choices = roles  # type: ignore[attr-defined]
        self.fields["features"].choices = flags  # type: ignore[attr-defined]

    def portal_fields(self, *, existing_flags: dict[str, bool]) -> tuple[PortalFields, dict[str, list[str]]]:
        """What parsed, as the service's `PortalFields`, and what did not, as its `rejected` (by its names)."""
        data = self.cleaned_data
        fields: dict[str, Any] = {}
        for key in ("name", "admitted_roles", "signup_policy", "mfa_required"):
            if key in data:
                fields[key] = data[key]
        theme = {key: data[key] for key in ("primary_color", "logo_url") if key in data}
        if theme:
            fields["theme"] = theme
        if "features" in data:
            on = set(data["features"])
            # A flag only switches a page off: ticked stays as the portal has it (True) or unset, unticked is False.
            fields["features"] = {
                code: code in on
                for code, _ in self.fields["features"].choices  # type: ignore[attr-defined]
                if code not in on or code in existing_flags
            }
        rejected = {_SERVICE_FIELD.get(key, key): [str(e) for e in errors] for key, errors in self.errors.items()}
        return cast(PortalFields, fields), rejected

    def show_errors(self, exc: ApplicationError) -> None:
        """Every problem the service names beside its field (all at once); the rest above the form."""
        self.errors.clear()
        placed = False
        for key, problems in (exc.errors or {}).items():
            field = _FORM_FIELD.get(key, key)
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
            placed = True
        if not placed:
            self.add_error(None, exc.detail)


class SettingsPage(PortalPage):
    """GET: this portal's settings in one form, with a live preview of the theme; POST saves them."""

    permission = MANAGE_PORTAL
    template_name = "portals/settings.html"

    def form(self, data: Any = None) -> SettingsForm:
        view = portal_view(self.portal)
        roles = [(role.code, role.name) for role in role_list(tenant=self.principal.tenant)]
        initial = {
            "name": view.name,
            "primary_color": view.theme["primary_color"],
            "logo_url": view.theme["logo_url"],
            "admitted_roles": view.admitted_roles,
            "signup_policy": view.signup_policy,
            "mfa_required": view.mfa_required,
            "features": [code for code, _ in flag_choices(view.features) if view.features.get(code) is not False],
        }
        return SettingsForm(data, initial=initial, roles=roles, flags=flag_choices(view.features))

    def context(self, form: SettingsForm) -> dict[str, Any]:
        tenant = self.portal.tenant
        flags = form.fields["features"].choices  # type: ignore[attr-defined]
        return {
            "form": form,
            "not_in_plan": {code for code, _ in flags if not plugs.has_feature(tenant, code)},
        }

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.context(self.form()))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = self.form(request.POST)
        form.is_valid()  # parsing only: what did not parse goes to the service as `rejected`
        fields, rejected = form.portal_fields(existing_flags=portal_view(self.portal).features)
        try:
            change = portals.portal_change(
                tenant=tenant_get(tenant_id=self.principal.tenant_id),
                actor=actor_get(user_id=self.principal.user_id),
                slug=self.portal.slug,
                fields=fields,
                rejected=rejected,
                ip=client_ip(request),
            )
        except (NotFound, TooManyRequests):
            raise
        except ApplicationError as exc:
            form.show_errors(exc)
            return self.render(self.context(form), status=exc.status)
        if not change.changed:
            messages.info(request, "Nothing changed.")
        else:
            messages.success(request, "Portal settings saved.")
        if change.sessions_ended:
            ended = change.sessions_ended
            messages.warning(
                request,
                f"{ended} session{'s' if ended != 1 else ''} ended: "
                "people who lost access to this portal with this change were signed out of it.",
            )
        return HttpResponseRedirect(self.url("settings"))
