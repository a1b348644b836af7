"""System checks for identity's production needs (run by `manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def jwt_signing_key_present(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from apps.identity.tokens import keyring

    if settings.JWT_GENERATE_DEV_KEY:
        return []
    try:
        keyring.signing_key()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Run `manage.py jwt_keys add` on the secret volume.", id="identity.E001")]
    return []
