"""Top-level routes: service endpoints, the versioned API, portals."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.common import views as common_views
from apps.identity.api.auth_views import JWKSView
from apps.portals.views import social
from apps.portals.views.pages import landing
from config import env as E

urlpatterns = [
    path("healthz", common_views.healthz, name="healthz"),
    path("readyz", common_views.readyz, name="readyz"),
    path("metrics", common_views.metrics, name="metrics"),
    path("api/v1/", common_views.ServiceInfoView.as_view(), name="api-root"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/identity/", include("apps.identity.api.urls")),
    path("api/v1/billing/", include("apps.billing.api.urls")),
    path("api/v1/files/", include("apps.files.api.urls")),
    path("api/v1/integrations/", include("apps.identity.api.integrations_urls")),  # API keys (ADR 0015)
    # integrations: webhooks (apps.integrations) mounted here too
    path("api/v1/integrations/", include("apps.integrations.api.urls")),
    path("api/v1/", include("apps.flows.api.urls")),  # flows/..., analytics/track/
    path(".well-known/jwks.json", JWKSView.as_view(), name="jwks"),
    path("portal/<slug:slug>/", include("apps.portals.urls")),
    # The social providers' redirect URIs: allauth's callback, then the portal its state names (ADR 0014).
    path("social/", include(social.callback_patterns())),
    path("", landing, name="landing"),
]
if E.BENCH_CONTROLS:  # `make bench` only: the controls it compares against (docs/performance.md)
    urlpatterns.append(path("bench/", include("benchmarks.controls.urls")))

handler400 = "apps.common.errors.handler400"
handler403 = "apps.common.errors.handler403"
handler404 = "apps.common.errors.handler404"
handler500 = "apps.common.errors.handler500"
