"""A test-only endpoint that authenticates and checks a permission but touches no table."""

from django.urls import include, path
from rest_framework.response import Response

from apps.identity.api.base import TenantAPIView
from apps.identity.permissions import VIEW_MEMBER


class ProbeView(TenantAPIView):
    required_permissions = {"get": {VIEW_MEMBER}}

    def get(self, request):
        return Response({"tenant": str(self.tenant.id), "role": self.principal.role})


urlpatterns = [
    path("probe/", ProbeView.as_view()),
    path("", include("config.urls")),
]
