"""Which social sign-in providers exist, and which a portal offers: one answer for the buttons and the API.

A provider is *configured* when the settings give it an app
(`SOCIALACCOUNT_PROVIDERS`, built from the `SOCIAL_*` variables in
`config/settings/social.py`). A portal offers every configured provider,
unless its `features.social_providers` is a list: then only the configured
ones it names (an empty list offers none). A name the settings do not
configure is never offered, so the login page's buttons and `login_methods`
of `GET /api/v1/identity/portals/{slug}/` never promise a provider that is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings

from apps.identity.models import Portal

# allauth's provider class id → (Atrium's provider id, the label on the button).
# The OIDC provider's id is its app's `provider_id`; its label is `SOCIAL_OIDC_NAME`.
_KNOWN: Final = {"google": "Google", "github": "GitHub"}
OIDC_ID: Final = "oidc"


@dataclass(frozen=True)
class SocialProvider:
    id: str  # what URLs, `features.social_providers` and the links' `provider` use
    label: str


def _apps(config: Any) -> list[dict[str, Any]]:
    if not isinstance(config, dict):
        return []
    apps = config.get("APPS")
    if apps is None:
        apps = [config["APP"]] if isinstance(config.get("APP"), dict) else []
    return [app for app in apps if isinstance(app, dict) and app.get("client_id")]


def configured_providers() -> list[SocialProvider]:
    """The providers the settings configure, in a fixed order (Google, GitHub, the OIDC provider)."""
    config = getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}) or {}
    found: list[SocialProvider] = []
    for provider_id, label in _KNOWN.items():
        if _apps(config.get(provider_id)):
            found.append(SocialProvider(id=provider_id, label=label))
    for app in _apps(config.get("openid_connect")):
        if app.get("provider_id") == OIDC_ID:
            found.append(SocialProvider(id=OIDC_ID, label=str(app.get("name") or "Single sign-on")))
    return found


def provider_label(provider_id: str) -> str:
    """The button label of a configured provider; the id itself for one no longer configured."""
    return next((p.label for p in configured_providers() if p.id == provider_id), provider_id)


def portal_providers(*, portal: Portal) -> list[SocialProvider]:
    """The configured providers `portal` offers (see the module docstring)."""
    configured = configured_providers()
    features = portal.features if isinstance(portal.features, dict) else {}
    listed = features.get("social_providers")
    if not isinstance(listed, list):
        return configured
    wanted = {str(name) for name in listed}
    return [p for p in configured if p.id in wanted]


def portal_provider(*, portal: Portal, provider_id: str) -> SocialProvider | None:
    """The provider `provider_id` if `portal` offers it; None otherwise (unknown, not configured, not listed)."""
    return next((p for p in portal_providers(portal=portal) if p.id == provider_id), None)
