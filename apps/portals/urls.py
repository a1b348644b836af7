"""`/portal/<slug>/...`: every page of a portal (docs/api.md, "Portal UI")."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from apps.portals.views import api_keys, auth, members, pages, profile, security, webhooks
from apps.portals.views.account_email import EmailResendPage, EmailVerifyPage
from apps.portals.views.account_invitation import InvitationAcceptPage
from apps.portals.views.account_password import PasswordResetPage
from apps.portals.views.account_signup import SignupPage
from apps.portals.views.analytics import AnalyticsPage
from apps.portals.views.billing import BillingCheckoutPage, BillingPage, BillingPlanPage, BillingPortalLinkPage
from apps.portals.views.files import FileDeletePage, FileDownloadPage, FilesPage, FileUploadPage
from apps.portals.views.onboarding import OnboardingPage, OnboardingStepCompletePage
from apps.portals.views.portal_settings import SettingsPage
from apps.portals.views.roles import RoleCreatePage, RoleDeletePage, RoleEditPage, RolesPage
from apps.portals.views.social import (
    SocialCompletePage,
    SocialLinkCompletePage,
    SocialLinkPage,
    SocialLoginPage,
    SocialUnlinkPage,
)

app_name = "portals"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portals:dashboard"), name="home"),
    path("theme.css", pages.ThemeStylesheet.as_view(), name="theme"),
    path("login/", auth.LoginPage.as_view(), name="login"),
    path("login/code/", auth.LoginCodePage.as_view(), name="login-code"),
    path("login/enrol/", auth.LoginEnrolPage.as_view(), name="login-enrol"),
    path("logout/", auth.LogoutPage.as_view(), name="logout"),
    path("password/reset/", PasswordResetPage.as_view(), name="password-reset"),
    path("email/verify/", EmailVerifyPage.as_view(), name="email-verify"),
    path("email/resend/", EmailResendPage.as_view(), name="email-resend"),
    path("invitations/accept/", InvitationAcceptPage.as_view(), name="invitation-accept"),
    path("signup/", SignupPage.as_view(), name="signup"),
    path("dashboard/", pages.DashboardPage.as_view(), name="dashboard"),
    path("members/", members.MembersPage.as_view(), name="members"),
    path("members.csv", members.MembersCsvPage.as_view(), name="members-csv"),
    path("members/<str:membership_id>/role/", members.MemberRolePage.as_view(), name="member-role"),
    path("members/<str:membership_id>/remove/", members.MemberRemovePage.as_view(), name="member-remove"),
    path("members/invitations/", members.InvitationsPage.as_view(), name="invitations"),
    path(
        "members/invitations/<str:invitation_id>/revoke/",
        members.InvitationRevokePage.as_view(),
        name="invitation-revoke",
    ),
    path("security/", security.SecurityPage.as_view(), name="security"),
    path("security/totp/", security.TotpEnrolPage.as_view(), name="security-totp"),
    path("security/totp/confirm/", security.TotpConfirmPage.as_view(), name="security-totp-confirm"),
    path("security/totp/disable/", security.TotpDisablePage.as_view(), name="security-totp-disable"),
    path("security/backup-codes/", security.BackupCodesPage.as_view(), name="security-backup-codes"),
    path(
        "security/sessions/<str:session_id>/revoke/",
        security.SessionRevokePage.as_view(),
        name="security-session-revoke",
    ),
    path("profile/", profile.ProfilePage.as_view(), name="profile"),
    path("profile/password/", profile.PasswordChangePage.as_view(), name="profile-password"),
    # -- onboarding, analytics and billing pages --
    path("onboarding/", OnboardingPage.as_view(), name="onboarding"),
    path(
        "onboarding/steps/<str:code>/complete/", OnboardingStepCompletePage.as_view(), name="onboarding-step-complete"
    ),
    path("analytics/", AnalyticsPage.as_view(), name="analytics"),
    path("billing/", BillingPage.as_view(), name="billing"),
    path("billing/plan/", BillingPlanPage.as_view(), name="billing-plan"),
    path("billing/checkout/", BillingCheckoutPage.as_view(), name="billing-checkout"),
    path("billing/portal-link/", BillingPortalLinkPage.as_view(), name="billing-portal"),
    # -- files pages --
    path("files/", FilesPage.as_view(), name="files"),
    path("files/upload/", FileUploadPage.as_view(), name="files-upload"),
    path("files/<str:file_id>/download/", FileDownloadPage.as_view(), name="file-download"),
    path("files/<str:file_id>/delete/", FileDeletePage.as_view(), name="file-delete"),
    # -- roles and portal settings pages --
    path("roles/", RolesPage.as_view(), name="roles"),
    path("roles/new/", RoleCreatePage.as_view(), name="role-create"),
    path("roles/<str:code>/", RoleEditPage.as_view(), name="role-edit"),
    path("roles/<str:code>/delete/", RoleDeletePage.as_view(), name="role-delete"),
    path("settings/", SettingsPage.as_view(), name="settings"),
    # -- social sign-in --
    path("social/<slug:provider>/login/", SocialLoginPage.as_view(), name="social-login"),
    path("social/complete/", SocialCompletePage.as_view(), name="social-complete"),
    path("security/social/complete/", SocialLinkCompletePage.as_view(), name="social-link-complete"),
    path("security/social/<slug:provider>/link/", SocialLinkPage.as_view(), name="social-link"),
    path("security/social/<str:link_id>/unlink/", SocialUnlinkPage.as_view(), name="social-unlink"),
    # -- integrations: API keys and webhooks --
    path("api-keys/", api_keys.ApiKeysPage.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", api_keys.ApiKeyRevokePage.as_view(), name="api-key-revoke"),
    path("webhooks/", webhooks.WebhooksPage.as_view(), name="webhooks"),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver/",
        webhooks.DeliveryRedeliverPage.as_view(),
        name="webhook-redeliver",
    ),
    path("webhooks/<str:endpoint_id>/", webhooks.WebhookPage.as_view(), name="webhook"),
    path("webhooks/<str:endpoint_id>/test/", webhooks.WebhookTestPage.as_view(), name="webhook-test"),
    path("webhooks/<str:endpoint_id>/rotate-secret/", webhooks.WebhookRotatePage.as_view(), name="webhook-rotate"),
    path("webhooks/<str:endpoint_id>/delete/", webhooks.WebhookDeletePage.as_view(), name="webhook-delete"),
]
