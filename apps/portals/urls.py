"""`/portal/<slug>/...`: every page of a portal (docs/api.md, "Portal UI")."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from apps.portals.views import auth, pages

app_name = "portals"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portals:dashboard"), name="home"),
    path("theme.css", pages.ThemeStylesheet.as_view(), name="theme"),
    path("login/", auth.LoginPage.as_view(), name="login"),
    path("login/code/", auth.LoginCodePage.as_view(), name="login-code"),
    path("login/enrol/", auth.LoginEnrolPage.as_view(), name="login-enrol"),
    path("logout/", auth.LogoutPage.as_view(), name="logout"),
    path("dashboard/", pages.DashboardPage.as_view(), name="dashboard"),
]
