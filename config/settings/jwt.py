"""Access tokens: simplejwt with ES256, keys from PEM files in JWT_KEYS_DIR (see apps.identity.tokens)."""

from datetime import timedelta

from config import env as E

JWT_KEYS_DIR = E.JWT_KEYS_DIR
JWT_ISSUER = E.JWT_ISSUER
JWT_AUDIENCE = "atrium"
JWT_ALGORITHM = "ES256"
# Extra key (PEM text or a path to a PEM file) for deployments that inject it as a secret.
JWT_PRIVATE_KEY = E.JWT_PRIVATE_KEY
# Local development generates a key into JWT_KEYS_DIR on first use; production never does.
JWT_GENERATE_DEV_KEY = E.DEBUG or E.TESTING

ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
MFA_TOKEN_LIFETIME = timedelta(minutes=10)

SIMPLE_JWT = {
    "ALGORITHM": JWT_ALGORITHM,
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "USER_ID_CLAIM": "sub",
    "USER_ID_FIELD": "id",
    "JTI_CLAIM": "jti",
    # Never fall back to SECRET_KEY: the backend subclass supplies keys by `kid`.
    "SIGNING_KEY": None,
    "VERIFYING_KEY": None,
    "LEEWAY": 0,
    "ROTATE_REFRESH_TOKENS": False,
    "BLACKLIST_AFTER_ROTATION": False,
    "UPDATE_LAST_LOGIN": False,
}
