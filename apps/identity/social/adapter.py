"""The allauth adapter: allauth proves who the provider says this is; Atrium decides everything after that.

allauth runs the exchange (the state it stashed in this browser's session,
PKCE, the code for tokens, the ID token's signature, issuer and audience) and
then calls `pre_social_login`. That is where its own flows would start —
log in, sign up, connect — and where this adapter stops it: it records what
was proved (`Completed`: the identity and allauth's state, which carries the
portal and what was asked for) on the request and cuts allauth short with an
empty response. An exchange that failed (a forged, missing or expired state,
the person cancelling, a provider error) is recorded as `Failed` the same
way. The view that called allauth's callback (`apps.portals.views.social`)
reads the outcome (`outcome_take`) and hands it to `services.social`.

So allauth never signs anyone in, signs anyone up, links an identity or
matches an e-mail to an account (`authenticate_by_email` finds nothing), and
its apps come from the settings only (`list_apps` reads no `SocialApp` rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.http import HttpRequest, HttpResponse

from apps.identity.services.social import SocialIdentity

_OUTCOME = "_atrium_social_outcome"


@dataclass(frozen=True)
class Completed:
    """allauth verified the exchange: who the provider says this is, and the state the start stashed."""

    identity: SocialIdentity
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """The exchange did not complete; `state` is None when it never matched one this browser started."""

    provider: str
    error: str
    state: dict[str, Any] | None = None


def outcome_take(request: HttpRequest) -> Completed | Failed | None:
    """What the last allauth call on this request ended in (once); None: it never reached the adapter."""
    outcome = getattr(request, _OUTCOME, None)
    if hasattr(request, _OUTCOME):
        delattr(request, _OUTCOME)
    return outcome if isinstance(outcome, Completed | Failed) else None


def _stop(request: HttpRequest, outcome: Completed | Failed) -> ImmediateHttpResponse:
    setattr(request, _OUTCOME, outcome)
    return ImmediateHttpResponse(HttpResponse(status=204))


def _text(data: Any, *keys: str) -> str:
    """The first non-empty string under `keys` in allauth's extra data (top level, userinfo, ID token)."""
    sources = [data, data.get("userinfo"), data.get("id_token")] if isinstance(data, dict) else []
    for key in keys:
        for source in sources:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def identity_of(sociallogin: Any) -> SocialIdentity:
    """The identity allauth's `SocialLogin` holds: its provider and uid, and its best e-mail address (allauth
    sorts them primary and verified first) with whether the provider verified it."""
    account = sociallogin.account
    addresses = [a for a in sociallogin.email_addresses if getattr(a, "email", "")]
    email = str(addresses[0].email) if addresses else ""
    extra = account.extra_data
    return SocialIdentity(
        provider=str(account.provider),
        uid=str(account.uid),
        email=email,
        email_verified=bool(addresses and addresses[0].verified),
        name=_text(extra, "name"),
        display=email or _text(extra, "login", "preferred_username", "name"),
    )


class AtriumSocialAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        raise _stop(request, Completed(identity=identity_of(sociallogin), state=dict(sociallogin.state or {})))

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        state = (extra_context or {}).get("state")
        raise _stop(
            request,
            Failed(
                provider=str(getattr(provider, "sub_id", "") or getattr(provider, "id", "")),
                error=str(error or "unknown"),
                state=state if isinstance(state, dict) else None,
            ),
        )

    def authenticate_by_email(self, sociallogin: Any) -> None:
        return None  # an e-mail never signs anyone in to an account (services.social: no takeover)

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False  # sign-up is services.social's, by the portal's policy

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False

    def list_apps(self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None) -> list:
        """The apps `SOCIALACCOUNT_PROVIDERS` configures (config/settings/social.py); no database rows."""
        apps = []
        for provider_class, config in (app_settings.PROVIDERS or {}).items():
            entries = config.get("APPS") or ([config["APP"]] if config.get("APP") else [])
            for entry in entries:
                app = SocialApp(
                    provider=provider_class,
                    provider_id=entry.get("provider_id", ""),
                    name=entry.get("name", ""),
                    client_id=entry.get("client_id", ""),
                    secret=entry.get("secret", ""),
                    key=entry.get("key", ""),
                    settings=dict(entry.get("settings") or {}),
                )
                if client_id and app.client_id != client_id:
                    continue
                if provider and provider not in (app.provider_id, app.provider):
                    continue
                apps.append(app)
        return apps
