"""The landing page, the dashboard and the portal's theme stylesheet."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods

from apps.billing.catalogue import FEATURE_ONBOARDING
from apps.flows.selectors import checklist_get
from apps.identity.models import DEFAULT_THEME
from apps.identity.selectors.portals import portal_feature_on
from apps.identity.selectors.tenancy import role_name_get
from apps.portals.base import PortalPage, PublicPortalPage
from apps.portals.navigation import SIGNED_IN
from apps.portals.theme import theme_css
from apps.portals.views.onboarding_support import progress_of


class GoToPortalForm(forms.Form):
    portal = forms.SlugField(label="Portal address", max_length=63, help_text="The name after /portal/ in your link.")


@require_http_methods(["GET"])
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: what Atrium is and a "go to your portal" form. It names no tenant."""
    form = GoToPortalForm(request.GET or None)
    if form.is_valid():
        return HttpResponseRedirect(reverse("portals:login", kwargs={"slug": form.cleaned_data["portal"]}))
    return render(request, "portals/landing.html", {"form": form}, status=400 if form.is_bound else 200)


@method_decorator(cache_control(max_age=300, public=True), name="dispatch")
class ThemeStylesheet(PublicPortalPage):
    """The portal's colours as CSS custom properties: a stylesheet, so the CSP needs no inline style."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        theme = {**DEFAULT_THEME, **(self.portal.theme or {})}
        return HttpResponse(theme_css(theme.get("primary_color", "")), content_type="text/css; charset=utf-8")


class DashboardPage(PortalPage):
    """Who is signed in where, and (with the onboarding feature on) how far their checklist is."""

    permission = SIGNED_IN
    template_name = "portals/dashboard.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        principal = self.principal
        tenant = self.portal.tenant  # loaded with the portal; a session only ever admits its own tenant
        progress = None
        if portal_feature_on(portal=self.portal, code=FEATURE_ONBOARDING):
            checklist = checklist_get(tenant=principal.tenant, user_id=principal.user_id, portal=principal.portal)
            progress = progress_of(checklist)
        return self.render({"tenant": tenant, "role_name": role_name_get(code=principal.role), "progress": progress})
