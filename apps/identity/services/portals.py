"""A tenant's portals: list, create and change them (`/api/v1/identity/portals/`).

Portals are a global table (resolved from the URL before any tenant is known),
so nothing here leans on a scoped manager: every query names the tenant
explicitly, and a slug of another tenant is simply not found.

Rules beyond the field formats:
- A slug is unique across every tenant's portals; a taken slug is a conflict
  that does not say whose it is. It cannot change later: it is in every
  `/portal/<slug>/` link already mailed and in the `portal` claim of live
  access tokens.
- The plan's portal limit (`plugs.portal_limit`) counts active portals; it is
  checked on create and when a portal is reactivated.
- The tenant's default portal cannot be deactivated (invitation links point at
  it), nor its last active one, and some active portal must admit owners, so
  no change here can lock the tenant's owners out of every portal.
- A change that takes access away ends the affected sessions of that portal at
  once instead of at the next refresh: deactivation ends all of them, dropping
  a role from `admitted_roles` ends those of members holding it, requiring MFA
  ends those that signed in without it.

Admin changes to one tenant's portals are serialised by locking the tenant
row, so two concurrent requests cannot both take the last slot of the limit or
both deactivate "the other" active portal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.common.exceptions import ApplicationError, Conflict, NotFound
from apps.common.tenancy import TenantLike
from apps.identity import plugs
from apps.identity.models import DEFAULT_THEME, AuthSession, Membership, Portal, Role, Tenant, User
from apps.identity.services.audit import audit_record
from apps.identity.services.auth import sessions_end
from apps.identity.services.tenants import SLUG_RE

COLOR_RE: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
FEATURE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_FEATURES: Final = 50
MAX_ROLES: Final = 50
MAX_NAME: Final = 200
MAX_LOGO_URL: Final = 500
OWNER: Final = "owner"
# Keys of `Portal.features` that hold configuration rather than a flag (`selectors.portal_login_methods`).
CONFIG_FEATURES: Final = frozenset({"social_providers"})

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


@dataclass(frozen=True)
class PortalView:
    """A portal as the admin API shows it: theme filled in, only boolean feature flags."""

    slug: str
    name: str
    theme: dict[str, str]
    admitted_roles: list[str]
    signup_policy: str
    mfa_required: bool
    features: dict[str, bool]
    active: bool


def portal_view(portal: Portal) -> PortalView:
    theme = portal.theme if isinstance(portal.theme, dict) else {}
    features = portal.features if isinstance(portal.features, dict) else {}
    return PortalView(
        slug=portal.slug,
        name=portal.name,
        theme={
            "primary_color": str(theme.get("primary_color") or DEFAULT_THEME["primary_color"]),
            "logo_url": str(theme.get("logo_url") or DEFAULT_THEME["logo_url"]),
        },
        admitted_roles=[str(r) for r in (portal.admitted_roles or [])],
        signup_policy=portal.signup_policy,
        mfa_required=portal.mfa_required,
        # Non-boolean entries (e.g. `social_providers`) are configuration, not flags.
        features={str(k): v for k, v in features.items() if isinstance(v, bool) and k not in CONFIG_FEATURES},
        active=portal.active,
    )


# --------------------------------------------------------------------------- reading


def portal_list(*, tenant: TenantLike) -> QuerySet[Portal]:
    """The tenant's portals, oldest first (the order of the tenant/created index)."""
    return Portal.objects.filter(tenant_id=tenant.id).order_by("created_at", "id")


# --------------------------------------------------------------------------- validation


class _Errors:
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


def _clean_slug(raw: str, errors: _Errors) -> str:
    slug = raw.strip().lower()
    if not SLUG_RE.match(slug):
        errors.add("slug", "Use 1-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen.")
    return slug


def _clean_name(raw: str, errors: _Errors) -> str:
    name = raw.strip()
    if not name:
        errors.add("name", "A portal needs a name.")
    elif len(name) > MAX_NAME:
        errors.add("name", f"At most {MAX_NAME} characters.")
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        errors.add("name", "Control characters are not allowed.")
    return name


def _clean_theme(raw: Mapping[str, Any], errors: _Errors) -> dict[str, str]:
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


def _clean_roles(raw: Sequence[str], tenant: Tenant, errors: _Errors) -> list[str]:
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


def _clean_signup_policy(raw: str, errors: _Errors) -> str:
    if raw not in Portal.SignupPolicy.values:
        errors.add("signup_policy", "Use closed, invite or open.")
    return raw


def _clean_features(raw: Mapping[str, Any], reserved: Mapping[str, Any], errors: _Errors) -> dict[str, bool]:
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


def _clean(fields: PortalFields, *, tenant: Tenant, current: Portal | None, errors: _Errors) -> dict[str, Any]:
    """Validated model values for the keys present in `fields` (theme and features merged into `current`)."""
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


# --------------------------------------------------------------------------- guards


def _lock_tenant(tenant: Tenant) -> None:
    """Serialise portal administration per tenant (limit and last-portal checks read other rows)."""
    list(Tenant.objects.select_for_update().filter(id=tenant.id).values_list("id", flat=True))


def _check_limit(tenant: Tenant) -> None:
    limit = plugs.portal_limit(tenant)
    if limit is None:
        return
    active = Portal.objects.filter(tenant_id=tenant.id, active=True).count()
    if active >= limit:
        raise Conflict(
            f"The plan allows {limit} active portal{'s' if limit != 1 else ''}; deactivate one or change the plan.",
            limit=limit,
        )


def _check_owners_keep_a_door(tenant: Tenant, portal: Portal) -> None:
    """After `portal`'s change: the default stays active, and some active portal admits owners."""
    if portal.is_default and not portal.active:
        raise Conflict("The default portal cannot be deactivated: invitation links point at it.")
    others = list(
        Portal.objects.filter(tenant_id=tenant.id, active=True)
        .exclude(id=portal.id)
        .values_list("admitted_roles", flat=True)
    )
    rows = [*others, portal.admitted_roles] if portal.active else others
    if not rows:
        raise Conflict("This is the tenant's last active portal; it cannot be deactivated.")
    if not any(OWNER in (roles or []) for roles in rows):
        raise Conflict("Some active portal must admit owners; this change would leave them none.")


@dataclass(frozen=True)
class _Access:
    """Who could use a portal, before a change."""

    active: bool
    admitted_roles: frozenset[str]
    mfa_required: bool

    @classmethod
    def of(cls, portal: Portal) -> _Access:
        return cls(portal.active, frozenset(portal.admitted_roles or []), portal.mfa_required)


def _end_sessions(portal: Portal, *, before: _Access) -> int:
    """End the portal's live sessions that this change took access from; how many ended."""
    deactivated = before.active and not portal.active
    dropped = before.admitted_roles - set(portal.admitted_roles or [])
    mfa_now_required = portal.mfa_required and not before.mfa_required
    if not (deactivated or dropped or mfa_now_required):
        return 0
    live = list(
        AuthSession.objects.filter(
            portal_id=portal.id, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).values_list("id", "user_id", "amr")
    )
    if not live:
        return 0
    if deactivated:
        ended = [sid for sid, _, _ in live]
    else:
        roles: dict[Any, str] = {}
        if dropped:
            roles = dict(
                Membership.objects.filter(
                    tenant_id=portal.tenant_id, user_id__in={user_id for _, user_id, _ in live}
                ).values_list("user_id", "role__code")
            )
        ended = [
            sid
            for sid, user_id, amr in live
            if roles.get(user_id) in dropped or (mfa_now_required and "otp" not in (amr or []))
        ]
    return len(sessions_end(sessions=AuthSession.objects.filter(id__in=ended), reason="portal_changed"))


# --------------------------------------------------------------------------- writing


@transaction.atomic
def portal_create(
    *,
    tenant: Tenant,
    actor: User,
    fields: PortalFields,
    rejected: Mapping[str, Sequence[str]] | None = None,
    ip: str | None = None,
) -> Portal:
    """A new portal of `tenant`. `slug` and `name` are required; the rest default like the model's.

    `rejected`: fields the caller could not parse, with why; they are left out
    of `fields` and reported in the same 400 as the problems found here.
    """
    errors = _Errors(rejected)
    for required in ("slug", "name"):
        if required not in fields and required not in errors.errors:
            errors.add(required, "This field is required.")
    values = _clean(fields, tenant=tenant, current=None, errors=errors)
    errors.raise_if_any()
    values["theme"] = {**DEFAULT_THEME, **values.get("theme", {})}

    _lock_tenant(tenant)
    if values.get("active", True):
        _check_limit(tenant)
    taken = f"The slug {values['slug']!r} is already taken."
    # Any tenant's portal: the answer is the same whoever holds it.
    if Portal.objects.filter(slug=values["slug"]).exists():
        raise Conflict(taken)
    try:
        with transaction.atomic():
            portal = Portal.objects.create(tenant=tenant, is_default=False, **values)
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict(taken) from exc
    audit_record(
        tenant=tenant,
        actor=actor,
        action="portal.created",
        target=portal,
        ip=ip,
        data={"slug": portal.slug, "fields": _audit_values(portal, values.keys())},
    )
    return portal


@transaction.atomic
def portal_update(
    *,
    tenant: Tenant,
    actor: User,
    slug: str,
    fields: PortalFields,
    rejected: Mapping[str, Sequence[str]] | None = None,
    ip: str | None = None,
) -> Portal:
    """Change some of a portal's settings. A slug of another tenant (or none) is NotFound.

    `rejected` as for `portal_create`.
    """
    _lock_tenant(tenant)
    portal = Portal.objects.select_for_update().filter(tenant_id=tenant.id, slug=slug).first()
    if portal is None:
        raise NotFound("No portal with this slug.")
    errors = _Errors(rejected)
    values = _clean(fields, tenant=tenant, current=portal, errors=errors)
    if "slug" in values and values["slug"] != portal.slug:
        errors.errors.pop("slug", None)
        errors.add("slug", "A portal's slug cannot be changed: links and signed-in sessions use it.")
    values.pop("slug", None)
    errors.raise_if_any()

    access = _Access.of(portal)
    before = {field: getattr(portal, field) for field in values}
    changed = [field for field, value in values.items() if before[field] != value]
    if not changed:
        return portal
    if "active" in changed and portal.active is False:
        _check_limit(tenant)  # reactivation takes a slot
    for field in changed:
        setattr(portal, field, values[field])
    if {"active", "admitted_roles"} & set(changed):
        _check_owners_keep_a_door(tenant, portal)
    portal.save(update_fields=[*changed, "updated_at"])
    sessions_ended = _end_sessions(portal, before=access)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="portal.updated",
        target=portal,
        ip=ip,
        data={
            "slug": portal.slug,
            "changes": {
                field: {"from": _audit_value(field, before[field]), "to": _audit_value(field, values[field])}
                for field in changed
            },
            "sessions_ended": sessions_ended,
        },
    )
    return portal


def _audit_value(field: str, value: Any) -> Any:
    if field == "features" and isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, bool)}
    return value


def _audit_values(portal: Portal, fields: Iterable[str]) -> dict[str, Any]:
    return {field: _audit_value(field, getattr(portal, field)) for field in fields if field != "slug"}
