"""`/api/v1/integrations/`: the API-key routes identity serves (webhooks are mounted beside them)."""

from django.urls import path

from apps.identity.api import api_keys as api_keys_api

app_name = "integrations-keys"

urlpatterns = [
    path("api-keys/", api_keys_api.ApiKeyViewSet.as_view({"get": "list", "post": "create"}), name="api-key-list"),
    path("api-keys/<uuid:pk>/", api_keys_api.ApiKeyViewSet.as_view({"delete": "destroy"}), name="api-key-detail"),
]
