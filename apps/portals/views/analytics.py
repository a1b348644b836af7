"""`analytics/`: the portal's own door to product analytics, for the pages' script (static/portals/analytics.js).

The same service as `POST /api/v1/analytics/track/` (`analytics_record`, which
validates the event against the allow-list and the properties' size) and the
same per-user throttle: the API's `PerUserThrottle` with its scope
`analytics`, so the portal and the API share one allowance and one rate
setting. The body is JSON (`{"event", "properties"}`) or a form (`properties`
as JSON text); the session cookie and its CSRF token authenticate it. Answers
are for a script: 204, 400 or 429 with a short JSON body.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from apps.common.exceptions import ApplicationError
from apps.flows.api.throttling import ANALYTICS, PerUserThrottle
from apps.flows.services.analytics import analytics_record
from apps.portals.base import PortalPage
from apps.portals.navigation import SIGNED_IN


def _event_body(request: HttpRequest) -> tuple[Any, Any]:
    """(event, properties) from a JSON or form body; a 400 for a body that is neither."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApplicationError("The body is not JSON.", errors={"body": ["Send a JSON object."]}) from exc
        if not isinstance(data, dict):
            raise ApplicationError("The body is not a JSON object.", errors={"body": ["Send a JSON object."]})
        return data.get("event"), data.get("properties")
    raw = request.POST.get("properties") or None
    try:
        properties = json.loads(raw) if raw is not None else None
    except ValueError as exc:
        raise ApplicationError("The event was not recorded.", errors={"properties": ["Must be JSON."]}) from exc
    return request.POST.get("event"), properties


class AnalyticsPage(PortalPage):
    """POST only: record one allow-listed event for the signed-in user in this portal."""

    permission = SIGNED_IN
    http_method_names = ["post"]
    throttle_scope = ANALYTICS  # read by the API's throttle, as on AnalyticsTrackView

    def post(self, request: HttpRequest) -> HttpResponseBase:
        limiter = PerUserThrottle()
        if not limiter.allow_request(cast(Any, request), cast(Any, self)):
            wait = int(limiter.wait())
            response = JsonResponse({"detail": "Too many events; try again later.", "retry_after": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
        principal = self.principal
        try:
            event, properties = _event_body(request)
            analytics_record(
                tenant=principal.tenant,
                user_id=principal.user_id,
                portal=principal.portal,
                event=event,
                properties=properties,
            )
        except ApplicationError as exc:
            return JsonResponse({"detail": exc.detail, "errors": exc.errors or {}}, status=400)
        return HttpResponse(status=204)
