"""`/portal/<slug>/...`: every page of a portal (docs/api.md, "Portal UI")."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from apps.portals.views import auth, members, pages, profile, security
from apps.portals.views.account_email import EmailResendPage, EmailVerifyPage
from apps.portals.views.account_invitation import InvitationAcceptPage
from apps.portals.views.account_password import PasswordResetPage
from apps.portals.views.account_signup import SignupPage

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
]
