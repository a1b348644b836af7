from django.urls import path

from apps.files.api import views

app_name = "files"

urlpatterns = [
    path("", views.FileViewSet.as_view({"get": "list", "post": "create"}), name="file-list"),
    path("download/<str:token>/", views.FileDownloadView.as_view(), name="file-download"),
    path(
        "<uuid:pk>/",
        views.FileViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="file-detail",
    ),
]
