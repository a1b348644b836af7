from django.urls import path

from apps.identity.api import account_views, auth_views, mfa_views, views
from apps.identity.api import audit as audit_api
from apps.identity.api import invitations as invitations_api
from apps.identity.api import members as members_api
from apps.identity.api import portals as portals_api
from apps.identity.api import roles as roles_api

app_name = "identity"

urlpatterns = [
    path("portals/", portals_api.PortalViewSet.as_view({"get": "list", "post": "create"}), name="portal-list"),
    # One path, two doors: GET is the public metadata of a login page, PATCH the tenant admin's change.
    path(
        "portals/<slug:slug>/",
        views.MethodDispatch(
            GET=views.PortalPublicView.as_view(),
            PATCH=portals_api.PortalViewSet.as_view({"patch": "partial_update"}),
        ),
        name="portal-detail",
    ),
    path("audit-events/", audit_api.AuditEventViewSet.as_view({"get": "list"}), name="audit-event-list"),
    path("auth/login/", auth_views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh/", auth_views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout/", auth_views.LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", auth_views.MeView.as_view(), name="auth-me"),
    path("auth/switch/", auth_views.SwitchView.as_view(), name="auth-switch"),
    path("auth/mfa/", mfa_views.MfaStatusView.as_view(), name="auth-mfa"),
    path("auth/mfa/verify/", mfa_views.MfaVerifyView.as_view(), name="auth-mfa-verify"),
    path("auth/mfa/totp/setup/", mfa_views.TotpSetupView.as_view(), name="auth-totp-setup"),
    path("auth/mfa/totp/confirm/", mfa_views.TotpConfirmView.as_view(), name="auth-totp-confirm"),
    path("auth/mfa/totp/disable/", mfa_views.TotpDisableView.as_view(), name="auth-totp-disable"),
    path("auth/mfa/backup-codes/", mfa_views.BackupCodesView.as_view(), name="auth-backup-codes"),
    path("auth/register/", account_views.RegisterView.as_view(), name="auth-register"),
    path("auth/email/verify/", account_views.EmailVerifyView.as_view(), name="auth-email-verify"),
    path("auth/email/resend/", account_views.EmailResendView.as_view(), name="auth-email-resend"),
    path("auth/password/reset/", account_views.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password/reset/confirm/",
        account_views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/password/change/", account_views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/sessions/", account_views.SessionListView.as_view(), name="auth-session-list"),
    path("auth/sessions/<uuid:id>/", account_views.SessionDetailView.as_view(), name="auth-session-detail"),
    path("tenant/", members_api.TenantDetailView.as_view(), name="tenant-detail"),
    path("members/", members_api.MemberViewSet.as_view({"get": "list"}), name="member-list"),
    path(
        "members/<uuid:id>/",
        members_api.MemberViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        name="member-detail",
    ),
    path("roles/", roles_api.RoleViewSet.as_view({"get": "list", "post": "create"}), name="role-list"),
    path(
        "roles/<slug:code>/",
        roles_api.RoleViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        name="role-detail",
    ),
    path(
        "invitations/",
        invitations_api.InvitationViewSet.as_view({"get": "list", "post": "create"}),
        name="invitation-list",
    ),
    path("invitations/accept/", invitations_api.InvitationAcceptView.as_view(), name="invitation-accept"),
    path(
        "invitations/<uuid:pk>/",
        invitations_api.InvitationViewSet.as_view({"delete": "destroy"}),
        name="invitation-detail",
    ),
]
