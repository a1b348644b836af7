"""Social sign-in (docs/adr/0014-social-sign-in-with-allauth.md): Google, GitHub and one OpenID Connect provider.

django-allauth does the OAuth 2.0 / OpenID Connect exchange only (state,
PKCE, the code, the ID token); every sign-in it completes goes through
Atrium's own sign-in service. A provider is on when its client id is set;
without one its button is absent and its callback is the 404 page. The
providers are configured here (`SOCIALACCOUNT_PROVIDERS` with `APPS`), never
in `SocialApp` rows: the adapter reads no database for them.

The redirect URI to register with a provider is
`<PUBLIC_BASE_URL>/social/<id>/callback/` (`google`, `github`, `oidc`).
"""

from __future__ import annotations

from typing import Any

from config import env as E

SOCIAL_GOOGLE_CLIENT_ID: str = E.env.str("SOCIAL_GOOGLE_CLIENT_ID", default="")
SOCIAL_GOOGLE_CLIENT_SECRET: str = E.env.str("SOCIAL_GOOGLE_CLIENT_SECRET", default="")
SOCIAL_GITHUB_CLIENT_ID: str = E.env.str("SOCIAL_GITHUB_CLIENT_ID", default="")
SOCIAL_GITHUB_CLIENT_SECRET: str = E.env.str("SOCIAL_GITHUB_CLIENT_SECRET", default="")
SOCIAL_OIDC_NAME: str = E.env.str("SOCIAL_OIDC_NAME", default="Single sign-on")
SOCIAL_OIDC_SERVER_URL: str = E.env.str("SOCIAL_OIDC_SERVER_URL", default="")
SOCIAL_OIDC_CLIENT_ID: str = E.env.str("SOCIAL_OIDC_CLIENT_ID", default="")
SOCIAL_OIDC_CLIENT_SECRET: str = E.env.str("SOCIAL_OIDC_CLIENT_SECRET", default="")


def social_providers(
    *,
    google: tuple[str, str] = ("", ""),
    github: tuple[str, str] = ("", ""),
    oidc: tuple[str, str, str, str] = ("", "", "", ""),
) -> dict[str, Any]:
    """allauth's `SOCIALACCOUNT_PROVIDERS` for the providers given a client id: (id, secret), and for OIDC
    (name, server URL, id, secret). PKCE on wherever the provider supports it. Tests build theirs with this too."""
    providers: dict[str, Any] = {}
    if google[0]:
        providers["google"] = {
            "APPS": [{"client_id": google[0], "secret": google[1], "settings": {"oauth_pkce_enabled": True}}],
            "SCOPE": ["openid", "email", "profile"],
        }
    if github[0]:
        providers["github"] = {
            "APPS": [{"client_id": github[0], "secret": github[1], "settings": {"oauth_pkce_enabled": True}}],
            # The e-mail addresses and whether GitHub verified them need this scope.
            "SCOPE": ["read:user", "user:email"],
        }
    name, server_url, client_id, secret = oidc
    if client_id and server_url:
        providers["openid_connect"] = {
            "APPS": [
                {
                    "provider_id": "oidc",
                    "name": name or "Single sign-on",
                    "client_id": client_id,
                    "secret": secret,
                    "settings": {"server_url": server_url, "oauth_pkce_enabled": True},
                }
            ]
        }
    return providers


SOCIALACCOUNT_PROVIDERS: dict[str, Any] = social_providers(
    google=(SOCIAL_GOOGLE_CLIENT_ID, SOCIAL_GOOGLE_CLIENT_SECRET),
    github=(SOCIAL_GITHUB_CLIENT_ID, SOCIAL_GITHUB_CLIENT_SECRET),
    oidc=(SOCIAL_OIDC_NAME, SOCIAL_OIDC_SERVER_URL, SOCIAL_OIDC_CLIENT_ID, SOCIAL_OIDC_CLIENT_SECRET),
)

# Every social sign-in ends in Atrium's sign-in service (apps.identity.social.adapter): allauth never
# signs anyone in, signs anyone up or links anything by itself.
SOCIALACCOUNT_ADAPTER = "apps.identity.social.adapter.AtriumSocialAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never sign in to an account because an e-mail matches
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_STORE_TOKENS = False  # the provider's tokens are not needed after the sign-in
SOCIALACCOUNT_LOGIN_ON_GET = False  # starting a sign-in is a POST with CSRF
SOCIALACCOUNT_REQUESTS_TIMEOUT = 5
SOCIALACCOUNT_OPENID_CONNECT_URL_PREFIX = "oidc"

# allauth.account is installed only because allauth.socialaccount's models need it; its pages are not
# mounted. These keep its checks quiet and its user handling in step with Atrium's User (e-mail, no username).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_RATE_LIMITS = False
