"""`invitations/accept/?token=`: join the tenant an invitation names, then be signed in.

Someone new (or an account whose address was never proved) chooses a password;
someone with an account types theirs. The invitation always goes to the invited
address's account (`invitation_accept` decides whose), and the page then signs
in through `signin.sign_in` with the password typed here: for an existing
account, a wrong password undoes the acceptance, so the link alone does not
join an account in the browser. The rules are identity's (`invitations`,
`signin`); see `account_support`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect

from apps.common.exceptions import ApplicationError, Conflict, PermissionDenied, TooManyRequests
from apps.identity.client_info import client_info
from apps.identity.exceptions import EmailUnverified, InvalidCredentials
from apps.identity.services import invitations, signin
from apps.identity.services.invitations import InvitationPreview
from apps.identity.services.mfa import MfaChallenge
from apps.identity.services.sessions import ClientInfo
from apps.portals.base import PublicPortalPage, too_many_message, with_retry_after
from apps.portals.views.account_support import (
    PASSWORD_HELP,
    TwoPasswordsForm,
    field_errors,
    fits,
    no_cache,
    password_field,
)
from apps.portals.views.auth import password_signed_in


class InvitationNewAccountForm(TwoPasswordsForm):
    """Someone without a proved account: they choose how they sign in from now on."""

    token = forms.CharField(max_length=200, widget=forms.HiddenInput)
    name = forms.CharField(
        label="Your name (optional)",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = password_field("Choose a password", help_text=PASSWORD_HELP)
    password_again = password_field("Password, again")


class InvitationExistingAccountForm(forms.Form):
    """Someone whose account exists: they prove it is theirs with its password."""

    token = forms.CharField(max_length=200, widget=forms.HiddenInput)
    password = password_field("Your password", autocomplete="current-password")


@no_cache
class InvitationAcceptPage(PublicPortalPage):
    """`invitations/accept/?token=`: join the tenant with the invitation's role, then be signed in."""

    template_name = "portals/account_invitation.html"

    def _token(self, request: HttpRequest) -> str:
        source = request.POST if request.method == "POST" else request.GET
        token = str(source.get("token", ""))
        return token if fits(InvitationExistingAccountForm(), token=token) else ""

    def _preview(self, token: str) -> InvitationPreview:
        """The live invitation, only on a portal of its own tenant (elsewhere it looks like a dead link)."""
        if not token:
            raise ApplicationError(invitations.INVALID_INVITATION)
        preview = invitations.invitation_preview(raw_token=token)
        if preview.tenant_id != self.portal.tenant_id:
            raise ApplicationError(invitations.INVALID_INVITATION)
        return preview

    def _dead(self, detail: str, *, status: int = 400) -> HttpResponse:
        return self.render({"dead_link": detail}, template="portals/account_invitation_dead.html", status=status)

    def _page(self, preview: InvitationPreview, form: forms.Form, *, status: int = 200) -> HttpResponse:
        return self.render({"invitation": preview, "form": form}, status=status)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        token = self._token(request)
        try:
            preview = self._preview(token)
        except PermissionDenied as exc:
            return self._dead(exc.detail, status=403)
        except ApplicationError as exc:
            return self._dead(exc.detail)
        form_class = InvitationNewAccountForm if preview.chooses_password else InvitationExistingAccountForm
        return self._page(preview, form_class(initial={"token": token}))

    def post(self, request: HttpRequest) -> HttpResponseBase:
        token = self._token(request)
        try:
            preview = self._preview(token)
        except PermissionDenied as exc:
            return self._dead(exc.detail, status=403)
        except ApplicationError as exc:
            return self._dead(exc.detail)
        form: InvitationNewAccountForm | InvitationExistingAccountForm
        if preview.chooses_password:
            form = InvitationNewAccountForm(request.POST)
        else:
            form = InvitationExistingAccountForm(request.POST)
        if not form.is_valid():
            return self._page(preview, form, status=400)
        password: str = form.cleaned_data["password"]
        client = client_info(request)
        try:
            with transaction.atomic():
                accepted = invitations.invitation_accept(
                    raw_token=token, password=password, name=form.cleaned_data.get("name", ""), ip=client.ip
                )
                result = self._sign_in(accepted.user.email, password, client)
        except (InvalidCredentials, EmailUnverified, TooManyRequests) as refused:
            # An existing account joins only with its own password (the service's rule): nothing was kept.
            return self._not_proved(request, preview, form, refused)
        except Conflict as exc:
            return self._dead(exc.detail, status=409)
        except PermissionDenied as exc:
            return self._dead(exc.detail, status=403)
        except ApplicationError as exc:
            if field_errors(form, exc, {"password": "password"}):
                return self._page(preview, form, status=400)
            if exc.status != 400:  # anything but a dead link is the base's error page
                raise
            return self._dead(exc.detail)
        joined = f"You have joined {accepted.tenant.name}."
        if result is None:
            messages.success(request, f"{joined} Sign in with your password.")
            return HttpResponseRedirect(self.url("login"))
        messages.success(request, joined)
        return password_signed_in(self, request, result, client)

    def _sign_in(self, email: str, password: str, client: ClientInfo) -> signin.Admitted | MfaChallenge | None:
        """Sign in as the invited account with the password it joined with; None when this portal cannot."""
        try:
            return signin.sign_in(email=email, password=password, portal_slug=self.portal.slug, client=client)
        except (InvalidCredentials, EmailUnverified, TooManyRequests):
            return None
        except PermissionDenied:
            # The password was right; this portal does not admit the role (or the tenant is suspended).
            return None

    def _not_proved(
        self, request: HttpRequest, preview: InvitationPreview, form: forms.Form, error: ApplicationError
    ) -> HttpResponse:
        if isinstance(error, TooManyRequests):
            form.add_error(None, too_many_message(error))
            return with_retry_after(self._page(preview, form, status=429), error)
        form.add_error("password", "The password is wrong.")
        return self._page(preview, form, status=400)
