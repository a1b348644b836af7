"""Routes under `/api/v1/`: `flows/...` and `analytics/track/` (docs/api.md, "Flows and analytics")."""

from django.urls import path

from apps.flows.api import views

app_name = "flows"

urlpatterns = [
    path("flows/onboarding/checklist/", views.ChecklistView.as_view(), name="checklist-detail"),
    path(
        "flows/onboarding/steps/<slug:code>/complete/",
        views.StepCompleteView.as_view(),
        name="step-complete",
    ),
    path("flows/runs/", views.FlowRunViewSet.as_view({"get": "list"}), name="run-list"),
    path("analytics/track/", views.AnalyticsTrackView.as_view(), name="analytics-track"),
]
