"""Webhooks: the tenant's endpoints; create, change, test, rotate the secret, delete; each one's delivery log.

Every rule is the integrations app's and is the API's (apps/integrations/api/views.py):
`endpoint_list`, `endpoint_get` and `delivery_list` (with the API's fields and
cursor paging) to read; `endpoints.endpoint_create`, `endpoint_update`,
`endpoint_test`, `endpoint_rotate_secret`, `endpoint_delete` and
`delivery_redeliver` to write, with the same arguments. Whether a URL is safe to
call (the SSRF guard, after DNS), which event types exist, the endpoint limit
and "not while disabled" are the services' rules; the pages show their refusal
beside the field it names, or as a message.

The signing secret exists only in the answer to the POST that made it (create
or rotate): a page of its own with `Cache-Control: no-store`, never a redirect,
a URL, a message kept in the session or a log line. Deleting asks first, on a
page of its own. Another tenant's endpoint or delivery id is 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse

from apps.common.exceptions import ApplicationError, Conflict, NotFound, TooManyRequests
from apps.common.net import client_ip
from apps.identity.permissions import MANAGE_WEBHOOK
from apps.integrations.events import FEATURE_WEBHOOKS
from apps.integrations.models import WebhookEndpoint
from apps.integrations.selectors import (
    DELIVERY_FIELDS,
    ENDPOINT_FIELDS,
    delivery_get,
    delivery_list,
    endpoint_get,
    endpoint_list,
)
from apps.integrations.services import endpoints as services
from apps.integrations.services.endpoints import EndpointWithSecret
from apps.portals.base import PortalPage
from apps.portals.views.forms_support import add_service_errors, parse_id
from apps.portals.views.integrations_support import TenantWrites, cursor_listing, shown_once
from apps.portals.views.webhooks_forms import EndpointEditForm, EndpointForm

# What a member reads instead of the API's wording ("PATCH active=true") when the endpoint is off.
_DISABLED = "The endpoint is disabled: tick Active and save it before {doing}."


class _WebhookPage(PortalPage, TenantWrites):
    permission = MANAGE_WEBHOOK
    feature = FEATURE_WEBHOOKS

    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """One of the tenant's endpoints by the id in the URL (`endpoint_get`); anything else is the 404 page."""
        wanted = parse_id(endpoint_id, what="webhook endpoint")
        return endpoint_get(tenant=self.principal.tenant, endpoint_id=wanted)

    def endpoint_url(self, endpoint_id: Any) -> str:
        return reverse("portals:webhook", kwargs={"slug": self.portal.slug, "endpoint_id": str(endpoint_id)})

    def secret_page(self, made: EndpointWithSecret, *, rotated: bool) -> HttpResponse:
        """The page that shows a new signing secret, this once (no-store)."""
        context = {
            "endpoint": made.endpoint,
            "secret": made.secret,
            "rotated": rotated,
            "previous_until": made.endpoint.previous_secret_expires_at if rotated else None,
            "overlap_hours": settings.WEBHOOKS_SECRET_OVERLAP_HOURS,
        }
        return shown_once(self.render(context, template="portals/webhooks_secret.html"))


# --------------------------------------------------------------------------- the list and create


class WebhooksPage(_WebhookPage):
    """GET: the tenant's endpoints, newest first, and the form for a new one; POST adds it and shows its secret."""

    template_name = "portals/webhooks.html"

    def context(self, form: EndpointForm) -> dict[str, Any]:
        rows = endpoint_list(tenant=self.principal.tenant).only(*ENDPOINT_FIELDS)
        return {"form": form, "listing": cursor_listing(self.request, rows, base=self.url("webhooks"))}

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.context(EndpointForm()))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        form = EndpointForm(request.POST)
        if not form.is_valid():
            return self.render(self.context(form), status=400)
        tenant, actor = self.writes()
        try:
            made = services.endpoint_create(
                tenant=tenant,
                actor=actor,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                ip=client_ip(request),
            )
        except TooManyRequests:
            raise
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.context(form), status=exc.status)
        return self.secret_page(made, rotated=False)


# --------------------------------------------------------------------------- one endpoint


class WebhookPage(_WebhookPage):
    """GET: an endpoint's settings in a form, its actions and its delivery log; POST changes the settings."""

    template_name = "portals/webhooks_endpoint.html"

    def context(self, endpoint: WebhookEndpoint, form: EndpointEditForm) -> dict[str, Any]:
        rows = delivery_list(tenant=self.principal.tenant, endpoint_id=endpoint.id)
        listing = cursor_listing(
            self.request, rows.select_related("event").only(*DELIVERY_FIELDS), base=self.endpoint_url(endpoint.id)
        )
        return {"endpoint": endpoint, "form": form, "listing": listing}

    def get(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        endpoint = self.endpoint(endpoint_id)
        return self.render(self.context(endpoint, EndpointEditForm.of(endpoint)))

    def post(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        endpoint = self.endpoint(endpoint_id)
        form = EndpointEditForm(request.POST)
        if not form.is_valid():
            return self.render(self.context(endpoint, form), status=400)
        tenant, actor = self.writes()
        try:
            changed = services.endpoint_update(
                tenant=tenant,
                actor=actor,
                endpoint_id=endpoint.id,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                active=form.cleaned_data["active"],
                description=form.cleaned_data["description"],
                ip=client_ip(request),
            )
        except (NotFound, TooManyRequests):
            raise
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.context(endpoint, form), status=exc.status)
        state = "active" if changed.active else "off: nothing is sent to it"
        messages.success(request, f"Endpoint saved: {changed.url} is {state}.")
        return HttpResponseRedirect(self.endpoint_url(changed.id))


class WebhookTestPage(_WebhookPage):
    """POST: send the endpoint a `ping` now (`endpoints.endpoint_test`, as POST webhooks/{id}/test/)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        endpoint = self.endpoint(endpoint_id)
        tenant, actor = self.writes()
        try:
            services.endpoint_test(tenant=tenant, actor=actor, endpoint_id=endpoint.id)
        except Conflict:
            messages.error(request, _DISABLED.format(doing="testing it"))
        else:
            messages.success(
                request,
                f"Test event sent: a ping is on its way to {endpoint.url}. Its delivery is at the top of the log.",
            )
        return HttpResponseRedirect(self.endpoint_url(endpoint.id))


class WebhookRotatePage(_WebhookPage):
    """POST: a new signing secret, shown once; the previous one keeps signing for the overlap."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        endpoint = self.endpoint(endpoint_id)
        tenant, actor = self.writes()
        made = services.endpoint_rotate_secret(
            tenant=tenant, actor=actor, endpoint_id=endpoint.id, ip=client_ip(request)
        )
        return self.secret_page(made, rotated=True)


class WebhookDeletePage(_WebhookPage):
    """GET asks "delete this endpoint?"; POST deletes it and its delivery log (`endpoints.endpoint_delete`)."""

    template_name = "portals/webhooks_delete.html"

    def get(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        return self.render({"endpoint": self.endpoint(endpoint_id)})

    def post(self, request: HttpRequest, endpoint_id: str) -> HttpResponseBase:
        endpoint = self.endpoint(endpoint_id)
        tenant, actor = self.writes()
        services.endpoint_delete(tenant=tenant, actor=actor, endpoint_id=endpoint.id, ip=client_ip(request))
        messages.success(request, f"Endpoint deleted: nothing more is sent to {endpoint.url}.")
        return HttpResponseRedirect(self.url("webhooks"))


class DeliveryRedeliverPage(_WebhookPage):
    """POST: one more attempt of a delivery, same body and `webhook-id` (`endpoints.delivery_redeliver`)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, delivery_id: str) -> HttpResponseBase:
        found = delivery_get(tenant=self.principal.tenant, delivery_id=parse_id(delivery_id, what="delivery"))
        tenant, actor = self.writes()
        try:
            services.delivery_redeliver(tenant=tenant, actor=actor, delivery_id=found.id, ip=client_ip(request))
        except Conflict:
            messages.error(request, _DISABLED.format(doing="redelivering to it"))
        else:
            messages.success(request, f"Redelivery queued: the {found.event.type} event goes out again now.")
        return HttpResponseRedirect(self.endpoint_url(found.endpoint_id))
