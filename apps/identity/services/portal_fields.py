"""What an admin may set on a portal, and the checking of it.

`PortalFields` is the input of `portal_create` and `portal_update`
(`services/portals.py`); `portal_fields_clean` turns the keys present into the
model's values, each field checked against its format (slug, name, theme,
admitted roles, signup policy, feature flags). Every problem goes into one
`FieldErrors`, so a single 400 names all the invalid fields. The rules that
look beyond one portal's fields (the plan's limit, owners keep a door) are in
`services/portals.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Q

from apps.common.exceptions import ApplicationError
from apps.identity.models import Portal, Role, Tenant
from apps.identity.selectors.portals import CONFIG_FEATURES
from apps.identity.services.tenants import SLUG_RE

COLOR_RE: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
FEATURE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_FEATURES: Final = 50
MAX_ROLES: Final = 50
MAX_NAME: Final = 200
MAX_LOGO_URL: Final = 500

_https_url = URLValidator(schemes=["https"])


class ThemeFields(TypedDict, total=False):
    primary_color: str
    logo_url: str


class PortalFields(TypedDict, total=False):
    """What an admin may set on a portal. On update every key is optional (a partial update)."""

    slug: str
    name: str
    theme: ThemeFields
    admitted_roles: list[str]
    signup_policy: str
    mfa_required: bool
    features: dict[str, bool]
    active: bool


class FieldErrors:
    """Collects every field's problems so one 400 names them all.

    It starts from the problems the caller's parsing found (`rejected`: a
    field that is not even of the right type), so those are reported together
    with the rule checks of the fields that parsed.
    """

    def __init__(self, rejected: Mapping[str, Sequence[str]] | None = None) -> None:
        self.errors: dict[str, list[str]] = {field: list(messages) for field, messages in (rejected or {}).items()}
        self.rules_broken = False

    def add(self, field: str, message: str) -> None:
        self.rules_broken = True
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        error = ApplicationError("The request has invalid fields; see `errors`.", errors=self.errors)
        if not self.rules_broken:
            error.code = "validation_error"  # only parsing failed: the code a serializer's 400 has
        raise error


def portal_fields_clean(
    fields: PortalFields, *, tenant: Tenant, current: Portal | None, errors: FieldErrors
) -> dict[str, Any]:
    """Validated model values for the keys present in `fields` (theme and features merged into `current`).

    Problems are added to `errors`; the caller raises once it has added its own.
    """
    values: dict[str, Any] = {}
    if "slug" in fields:
        values["slug"] = _clean_slug(fields["slug"], errors)
    if "name" in fields:
        values["name"] = _clean_name(fields["name"], errors)
    if "theme" in fields:
        base = dict(current.theme) if current is not None and isinstance(current.theme, dict) else {}
        values["theme"] = {**base, **_clean_theme(fields["theme"], errors)}
    if "admitted_roles" in fields:
        values["admitted_roles"] = _clean_roles(fields["admitted_roles"], tenant, errors)
    if "signup_policy" in fields:
        values["signup_policy"] = _clean_signup_policy(fields["signup_policy"], errors)
    if "mfa_required" in fields:
        values["mfa_required"] = bool(fields["mfa_required"])
    if "features" in fields:
        existing = current.features if current is not None and isinstance(current.features, dict) else {}
        # Non-boolean entries are configuration the flags must not clobber; they are kept as they are.
        config = {k: v for k, v in existing.items() if k in CONFIG_FEATURES or not isinstance(v, bool)}
        reserved = {**dict.fromkeys(CONFIG_FEATURES), **config}
        values["features"] = {**config, **_clean_features(fields["features"], reserved, errors)}
    if "active" in fields:
        values["active"] = bool(fields["active"])
    return values


def _clean_slug(raw: str, errors: FieldErrors) -> str:
    slug = raw.strip().lower()
    if not SLUG_RE.match(slug):
        errors.add("slug", "Use 1-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen.")
    return slug


def _clean_name(raw: str, errors: FieldErrors) -> str:
    name = raw.strip()
    if not name:
        errors.add("name", "A portal needs a name.")
    elif len(name) > MAX_NAME:
        errors.add("name", f"At most {MAX_NAME} characters.")
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        errors.add("name", "Control characters are not allowed.")
    return name


def _clean_theme(raw: Mapping[str, Any], errors: FieldErrors) -> dict[str, str]:
    theme: dict[str, str] = {}
    if "primary_color" in raw:
        color = str(raw["primary_color"]).strip()
        if not COLOR_RE.match(color):
            errors.add("theme.primary_color", "Use a hex colour like #3b5bdb.")
        theme["primary_color"] = color.lower()
    if "logo_url" in raw:
        url = str(raw["logo_url"]).strip()
        if url:
            try:
                if len(url) > MAX_LOGO_URL:
                    raise ValidationError("too long")
                _https_url(url)
            except ValidationError:
                errors.add(
                    "theme.logo_url", f"Use an https:// URL of at most {MAX_LOGO_URL} characters, or leave empty."
                )
        theme["logo_url"] = url
    return theme


def _clean_roles(raw: Sequence[str], tenant: Tenant, errors: FieldErrors) -> list[str]:
    codes = list(dict.fromkeys(str(code).strip() for code in raw))
    if not codes:
        errors.add("admitted_roles", "Admit at least one role.")
        return codes
    if len(codes) > MAX_ROLES:
        errors.add("admitted_roles", f"At most {MAX_ROLES} roles.")
        return codes
    # System roles plus this tenant's own custom roles; another tenant's role code is just unknown.
    known = set(
        Role.objects.filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.id), code__in=codes).values_list(
            "code", flat=True
        )
    )
    for code in codes:
        if code not in known:
            errors.add("admitted_roles", f"Unknown role {code[:50]!r}.")
    return codes


def _clean_signup_policy(raw: str, errors: FieldErrors) -> str:
    if raw not in Portal.SignupPolicy.values:
        errors.add("signup_policy", "Use closed, invite or open.")
    return raw


def _clean_features(raw: Mapping[str, Any], reserved: Mapping[str, Any], errors: FieldErrors) -> dict[str, bool]:
    if len(raw) > MAX_FEATURES:
        errors.add("features", f"At most {MAX_FEATURES} flags.")
        return {}
    flags: dict[str, bool] = {}
    for key, value in raw.items():
        if not FEATURE_RE.match(str(key)):
            errors.add("features", f"{str(key)[:50]!r} is not a flag name (lower-case letters, digits, _).")
        elif key in reserved:
            errors.add("features", f"{key!r} is portal configuration, not a flag.")
        elif not isinstance(value, bool):
            errors.add("features", f"{key!r} must be true or false.")
        else:
            flags[key] = value
    return flags
