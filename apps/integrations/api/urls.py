from django.urls import path

from apps.integrations.api import views

app_name = "integrations"

urlpatterns = [
    path("webhooks/", views.EndpointViewSet.as_view({"get": "list", "post": "create"}), name="webhook-list"),
    path(
        "webhooks/<uuid:pk>/",
        views.EndpointViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="webhook-detail",
    ),
    path("webhooks/<uuid:pk>/rotate-secret/", views.EndpointRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<uuid:pk>/test/", views.EndpointTestView.as_view(), name="webhook-test"),
    path("webhooks/<uuid:pk>/deliveries/", views.DeliveryViewSet.as_view({"get": "list"}), name="webhook-deliveries"),
    path("deliveries/<uuid:pk>/redeliver/", views.DeliveryRedeliverView.as_view(), name="delivery-redeliver"),
]
