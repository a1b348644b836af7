"""Onboarding: the signed-in user's checklist in this portal, and "Mark done" on one of its steps.

The same selector and service as the API (apps/flows/api/views.py):
`checklist_get` to read (two queries, no write) and `flow_step_complete` to
complete a step, with the tenant, the acting user and the portal the API
passes. Completing a done step changes nothing; a step the flow lacks is the
404 page. Both pages belong to the plan feature `onboarding` (403 without it).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from apps.billing.catalogue import FEATURE_ONBOARDING
from apps.flows.selectors import checklist_get
from apps.flows.services.onboarding import flow_step_complete
from apps.identity.selectors.tenancy import actor_get, tenant_get
from apps.portals.base import PortalPage, safe_next
from apps.portals.navigation import SIGNED_IN
from apps.portals.views.onboarding_support import progress_of, step_code


class OnboardingPage(PortalPage):
    """The checklist with its progress; each open step has a "Mark done" button (a POST)."""

    permission = SIGNED_IN
    feature = FEATURE_ONBOARDING
    template_name = "portals/onboarding.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        principal = self.principal
        checklist = checklist_get(tenant=principal.tenant, user_id=principal.user_id, portal=principal.portal)
        return self.render({"checklist": checklist, "progress": progress_of(checklist)})


class OnboardingStepCompletePage(PortalPage):
    """POST: mark step `code` done for the signed-in user; back to the checklist (or a `next` of this portal)."""

    permission = SIGNED_IN
    feature = FEATURE_ONBOARDING
    http_method_names = ["post"]

    def post(self, request: HttpRequest, code: str) -> HttpResponseBase:
        principal = self.principal
        checklist = flow_step_complete(
            tenant=tenant_get(tenant_id=principal.tenant_id),
            actor=actor_get(user_id=principal.user_id),
            code=step_code(code),
            portal=principal.portal,
        )
        title = next((step.title for step in checklist.steps if step.code == code), code)
        progress = progress_of(checklist)
        if progress.complete:
            messages.success(request, f"Done: {title}. That was the last step: you are all set.")
        else:
            messages.success(request, f"Done: {title}. {progress.done} of {progress.total} steps done.")
        return HttpResponseRedirect(safe_next(request, self.portal, self.url("onboarding")))
